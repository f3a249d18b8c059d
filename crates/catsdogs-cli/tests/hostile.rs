//! Every command tried as a careless, then a hostile, user would: nothing the user owns is lost,
//! nothing is silently mislabelled, and bad input ends with one sentence, never a panic or an
//! abort. Each case failed before its fix. The inputs are made here: crafted zips, images, h5
//! and model files, over the tiny synthetic split.

mod cli;
#[path = "../../catsdogs/tests/common/mod.rs"]
mod common;
#[path = "../../catsdogs/tests/weights_files/mod.rs"]
mod weights_files;

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use cli::{
    catsdogs, command, first_image, ok, path, refused, sample_split, submit_args, train_args,
};
use common::run_python;

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs the binary with writes to any file limited to `bytes` (as on a disk that is full at
/// that size): writes past it fail with EFBIG instead of killing the process.
fn with_file_size_limit(args: &[&str], bytes: u64) -> Output {
    let mut cmd = command();
    cmd.args(args);
    // SAFETY: setrlimit and signal are async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: libc::RLIM_INFINITY,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// A way a model file's stored architecture can lie: its name and how it changes the JSON.
type Lie = (&'static str, fn(&mut serde_json::Value));

/// The peak resident memory of `catsdogs ARGS`, in KiB, which must succeed. It runs under a small
/// Python parent that reports its child's peak: a child spawned straight from this test process
/// would count as its own peak the pages of this process (and of the tests running beside it in
/// it), which it shares until it execs.
fn peak_memory_kib(args: &[&str]) -> i64 {
    let script = "import resource, subprocess, sys\n\
                  subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n\
                  print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let command = [&[env!("CARGO_BIN_EXE_catsdogs")][..], args].concat();
    let peak = run_python(script, &command);
    peak.trim().parse().expect("python prints the peak in KiB")
}

/// Kaggle's `train.zip` unpacked: `dir/train/cat.N.jpg` ...
fn unpacked(zip: &Path, dir: &Path) -> PathBuf {
    run_python(
        "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        &[path(zip), path(dir)],
    );
    dir.join("train")
}

#[test]
fn split_never_touches_its_input_nor_what_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    ok(&catsdogs(&["sample", path(&zip), "--per-class", "12"]));
    let data = dir.path().join("data");
    let train = unpacked(&zip, &data);
    let before = names(&train);
    let sizes = ["--train", "8", "--validation", "4", "--test", "4"];
    // `split data/train data`, forced or not, and the input as its own output.
    for out in [&data, &train] {
        for force in [&[][..], &["--force"][..]] {
            let args = [&["split", path(&train), path(out)][..], &sizes, force].concat();
            let error = refused(&catsdogs(&args));
            assert!(error.contains("holds the input"), "{error}");
            assert!(
                error.contains(&format!("such as {}", data.join("split").display())),
                "{error}"
            );
        }
    }
    let error = refused(&catsdogs(
        &[&["split", path(&zip), path(dir.path())][..], &sizes].concat(),
    ));
    assert!(error.contains("holds the input"), "{error}");
    assert_eq!(names(&train), before, "the input is untouched");

    // --force replaces what a split wrote, and nothing else.
    let split = data.join("split");
    ok(&catsdogs(
        &[&["split", path(&train), path(&split)][..], &sizes].concat(),
    ));
    let mine = split.join("train/cats/mine.jpg");
    std::fs::copy(train.join("cat.0.jpg"), &mine).unwrap();
    let other = [
        "--train",
        "6",
        "--validation",
        "4",
        "--test",
        "4",
        "--force",
    ];
    let error = refused(&catsdogs(
        &[&["split", path(&train), path(&split)][..], &other].concat(),
    ));
    assert!(error.contains("that no split wrote"), "{error}");
    assert!(error.contains("mine.jpg"), "{error}");
    assert!(mine.is_file());
    std::fs::remove_file(&mine).unwrap();
    let report = ok(&catsdogs(
        &[&["split", path(&train), path(&split)][..], &other].concat(),
    ));
    assert!(report.contains("train: 3 cats, 3 dogs"), "{report}");
    assert_eq!(names(&train), before);

    // A split interrupted before its manifest says so, and --force replaces it.
    std::fs::rename(
        split.join("manifest.json"),
        split.join(".manifest-in-progress.json"),
    )
    .unwrap();
    let error = refused(&catsdogs(
        &[&["split", path(&train), path(&split)][..], &other[..6]].concat(),
    ));
    assert!(error.contains("was interrupted"), "{error}");
    assert!(error.contains("--force"), "{error}");
    ok(&catsdogs(
        &[&["split", path(&train), path(&split)][..], &other].concat(),
    ));
    assert!(!split.join(".manifest-in-progress.json").exists());
}

#[test]
fn split_is_not_confused_by_one_number_in_two_formats() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    ok(&catsdogs(&["sample", path(&zip), "--per-class", "40"]));
    let both = dir.path().join("both.zip");
    run_python(
        r#"
import io, sys, zipfile
from PIL import Image
src, dst = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2], "w")
for name in src.namelist():
    data = src.read(name)
    dst.writestr(name, data)
    if name.endswith(".jpg"):
        png = io.BytesIO()
        Image.open(io.BytesIO(data)).save(png, "PNG")
        dst.writestr(name[:-4] + ".png", png.getvalue())
dst.close()
"#,
        &[path(&zip), path(&both)],
    );
    for attempt in 0..12 {
        let out = dir.path().join(format!("split-{attempt}"));
        let report = ok(&catsdogs(&[
            "split",
            path(&both),
            path(&out),
            "--train",
            "120",
            "--validation",
            "20",
            "--test",
            "20",
        ]));
        assert!(report.contains("train: 60 cats, 60 dogs"), "{report}");
    }
}

#[test]
fn a_refused_train_leaves_the_finished_run_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let run = dir.path().join("run");
    ok(&catsdogs(&train_args(&data, &run)));
    let config = std::fs::read_to_string(run.join("run.json")).unwrap();
    let metrics = std::fs::read_to_string(run.join("test_metrics.json")).unwrap();
    let changed = [
        &["--target-size", "48x48"][..],
        &["--resume", "--seed", "5"],
        &["--resume", "--lr=-1"],
    ];
    for extra in changed {
        let mut args = train_args(&data, &run);
        if extra[0] == "--target-size" {
            args.truncate(args.len() - 4); // --target-size 32x32 --out RUN
            args.extend(["--out", path(&run)]);
        }
        let error = refused(&catsdogs(&[&args[..], extra].concat()));
        assert!(
            error.contains("checkpoint") || error.contains("learning rate"),
            "{error}"
        );
        assert_eq!(
            std::fs::read_to_string(run.join("run.json")).unwrap(),
            config
        );
    }
    let evaluated = ok(&catsdogs(&["evaluate", path(&run), "--data", path(&data)]));
    let metrics: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    let acc = metrics["test_acc"].as_f64().unwrap();
    assert!(
        evaluated.contains(&format!("test_acc: {acc:.4}")),
        "{evaluated}"
    );
}

#[test]
fn labels_are_the_same_two_classes_everywhere_and_options_are_checked_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let run = dir.path().join("run");
    let birds = data.join("train/birds");
    std::fs::create_dir(&birds).unwrap();
    std::fs::copy(
        first_image(&data.join("train/cats")),
        birds.join("bird.1.jpg"),
    )
    .unwrap();

    let error = refused(&catsdogs(&train_args(&data, &run)));
    assert!(
        error.contains("has 3 class folder(s) (birds, cats, dogs)"),
        "{error}"
    );
    std::fs::remove_dir_all(&birds).unwrap();
    let cats = data.join("validation/cats");
    let away = dir.path().join("validation-cats");
    std::fs::rename(&cats, &away).unwrap();
    let error = refused(&catsdogs(&train_args(&data, &run)));
    assert!(
        error.contains("validation has the classes dogs but the training folder"),
        "{error}"
    );
    std::fs::rename(&away, &cats).unwrap();
    let with = |option: &'static str| {
        let mut args = train_args(&data, &run);
        args.retain(|a| *a != "--epochs" && *a != "1");
        args.push(option);
        catsdogs(&args)
    };
    let error = refused(&with("--epochs=0"));
    assert!(error.contains("0 epochs train nothing"), "{error}");
    for lr in ["--lr=-1", "--lr=0", "--lr=NaN", "--lr=inf"] {
        let error = refused(&with(lr));
        assert!(error.contains("is not a positive number"), "{lr}: {error}");
    }
    let bad_size = with("--cache-memory=-1");
    assert_eq!(bad_size.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_size.stderr).contains("is not a size in GiB"));
    assert!(!run.join("run.json").exists(), "nothing was run");
    // A model evaluated on a folder with one class only is refused too.
    ok(&catsdogs(&train_args(&data, &run)));
    std::fs::rename(data.join("test/cats"), &away).unwrap();
    let error = refused(&catsdogs(&["evaluate", path(&run), "--data", path(&data)]));
    assert!(error.contains("has 1 class folder(s)"), "{error}");
}

#[test]
fn every_output_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let good = b"a good file from before";
    let image = dir.path().join("cat.jpg");
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    std::fs::copy(first_image(&data.join("train/cats")), &image).unwrap();
    let weights = dir.path().join("notop.h5");
    weights_files::write_keras_h5(serde_json::json!({"path": path(&weights), "values": "formula"}));
    let run = dir.path().join("run");
    ok(&catsdogs(&train_args(&data, &run)));
    let test_zip = dir.path().join("test1.zip");
    run_python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[2], 'w')\nfor i in range(1, 11): z.write(sys.argv[1], 'test1/%d.jpg' % i)\nz.close()",
        &[path(&image), path(&test_zip)],
    );
    let [x_npy, f_npy, w_st, s_zip, s_csv] =
        ["x.npy", "f.npy", "w.safetensors", "s.zip", "s.csv"].map(|name| out.join(name));
    let cases: Vec<(Vec<&str>, PathBuf)> = vec![
        (
            vec!["load-img", path(&image), "--npy", path(&x_npy)],
            x_npy.clone(),
        ),
        (features_args(&weights, &image, &f_npy), f_npy.clone()),
        (
            vec!["convert-weights", path(&weights), path(&w_st)],
            w_st.clone(),
        ),
        (
            vec!["sample", path(&s_zip), "--force", "--per-class", "4"],
            s_zip.clone(),
        ),
        (submit_args(&run, &test_zip, &s_csv), s_csv.clone()),
    ];
    for (args, file) in cases {
        std::fs::write(&file, good).unwrap();
        let error = refused(&with_file_size_limit(&args, 64));
        assert!(error.contains("File too large"), "{args:?}: {error}");
        assert_eq!(std::fs::read(&file).unwrap(), good, "{args:?}");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(names(&out), [name], "no temporary file is left");
        std::fs::remove_file(&file).unwrap();
    }

    // A checkpoint that cannot be written names the checkpoint, not a temporary path, and
    // leaves no temporary folder.
    let full = dir.path().join("full");
    let error = refused(&with_file_size_limit(&train_args(&data, &full), 4 << 20));
    assert!(
        error.contains("checkpoints/epoch-0001: the checkpoint of epoch 1 could not be written"),
        "{error}"
    );
    assert!(!error.contains(".epoch-0001."), "{error}");
    assert!(names(&full.join("checkpoints")).is_empty());
}

#[test]
fn sample_refuses_to_overwrite_and_cleans_up_after_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("train.zip");
    std::fs::write(&precious, b"Kaggle's real zip").unwrap();
    let error = refused(&catsdogs(&["sample", path(&precious), "--per-class", "2"]));
    assert!(error.contains("exists already"), "{error}");
    assert!(error.contains("--force"), "{error}");
    assert_eq!(std::fs::read(&precious).unwrap(), b"Kaggle's real zip");
    ok(&catsdogs(&[
        "sample",
        path(&precious),
        "--per-class",
        "2",
        "--force",
    ]));
    assert_ne!(std::fs::read(&precious).unwrap(), b"Kaggle's real zip");

    let error = refused(&catsdogs(&[
        "sample",
        path(&dir.path().join("huge.zip")),
        "--per-class",
        "1000000",
    ]));
    assert!(error.contains("1 to 50000 images per class"), "{error}");

    let folder = dir.path().join("interrupted");
    std::fs::create_dir(&folder).unwrap();
    let zip = folder.join("big.zip");
    let child = command()
        .args([
            "sample",
            path(&zip),
            "--per-class",
            "40000",
            "--kaggle-sizes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while names(&folder).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no temporary file appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let error = refused(&out);
    assert!(
        error.contains("interrupted while drawing the sample"),
        "{error}"
    );
    assert!(names(&folder).is_empty(), "{:?}", names(&folder));
}

#[test]
fn a_reader_that_goes_away_stops_the_output_not_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let (zip, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let closed = |args: &[&str]| {
        let mut child = command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before the first line
        child.wait_with_output().unwrap()
    };
    let out = closed(&["flow", path(&data.join("train"))]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = dir.path().join("again");
    let args = cli::split_args(&zip, &again, [40, 10, 10]);
    let out = closed(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(again.join("manifest.json").is_file(), "the split finished");
}

#[test]
fn sizes_and_fields_read_from_outside_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("x.jpg");
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    std::fs::copy(first_image(&data.join("train/cats")), &image).unwrap();
    let npy = dir.path().join("x.npy");
    for size in ["100000x100000", "4294967295x4294967295"] {
        for args in [
            vec![
                "load-img",
                path(&image),
                "--target-size",
                size,
                "--npy",
                path(&npy),
            ],
            vec!["cache", path(&data.join("train")), "--target-size", size],
            train_args(&data, &dir.path().join("r"))
                .into_iter()
                .map(|a| if a == "32x32" { size } else { a })
                .collect(),
        ] {
            let out = catsdogs(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains("is too large"), "{stderr}");
        }
    }

    // An h5 dataset whose header claims 2^40 values.
    let h5 = dir.path().join("huge.h5");
    run_python(
        r#"
import sys, h5py
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["layer_names"] = [b"block1_conv1"]
    g = f.create_group("block1_conv1")
    g.attrs["weight_names"] = [b"block1_conv1_W_1:0", b"block1_conv1_b_1:0"]
    g.create_dataset("block1_conv1_W_1:0", shape=(1 << 20, 1 << 20), dtype="f4", chunks=(1, 1024))
    g.create_dataset("block1_conv1_b_1:0", shape=(64,), dtype="f4")
"#,
        &[path(&h5)],
    );
    let error = refused(&catsdogs(&[
        "convert-weights",
        path(&h5),
        path(&dir.path().join("w.safetensors")),
    ]));
    assert!(error.contains("larger than"), "{error}");

    // A 1 MB PNG whose compressed ICC profile inflates to 1 GiB: one decode stays far below.
    let bomb = dir.path().join("bomb.png");
    run_python(
        r#"
import struct, sys, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
packer = zlib.compressobj(9)
profile = b"".join(packer.compress(b"\0" * (1 << 20)) for _ in range(1024)) + packer.flush()
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
png += chunk(b"iCCP", b"icc\0\0" + profile)
png += chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
"#,
        &[path(&bomb)],
    );
    let peak = peak_memory_kib(&["load-img", path(&bomb), "--npy", path(&npy)]);
    assert!(peak < 512 << 10, "decoding took {peak} KiB");

    // Model files whose stored architecture lies.
    let run = dir.path().join("run");
    ok(&catsdogs(&train_args(&data, &run)));
    let (tensors, metadata) = catsdogs::tensor_file::read(&run.join("model.safetensors")).unwrap();
    let tensors: Vec<(String, tch::Tensor)> = tensors.into_iter().collect();
    let architecture: serde_json::Value =
        serde_json::from_str(&metadata["catsdogs.architecture"]).unwrap();
    let lies: [Lie; 5] = [
        ("negative input", |a| {
            a["input_shape"] = serde_json::json!([3, -32, 32])
        }),
        ("huge input", |a| {
            a["input_shape"] = serde_json::json!([3, 1i64 << 40, 1i64 << 40])
        }),
        ("dropout of 5", |a| {
            let layers = a["layers"].as_array_mut().unwrap();
            let dropout = layers
                .iter_mut()
                .find(|l| l["kind"]["class_name"] == "Dropout")
                .unwrap();
            dropout["kind"]["config"]["rate"] = serde_json::json!(5.0);
        }),
        ("no layers", |a| a["layers"] = serde_json::json!([])),
        ("a linear end", |a| {
            let last = a["layers"].as_array_mut().unwrap().last_mut().unwrap();
            last["kind"]["config"]["activation"] = serde_json::json!("linear");
        }),
    ];
    for (what, lie) in lies {
        let mut told = architecture.clone();
        lie(&mut told);
        let lying = dir.path().join("lying");
        let metadata = HashMap::from([("catsdogs.architecture".to_string(), told.to_string())]);
        catsdogs::tensor_file::write(&lying.join("model.safetensors"), &tensors, metadata).unwrap();
        let error = refused(&catsdogs(&["predict", path(&lying), path(&image)]));
        assert!(
            error.contains("is not a model that catsdogs saved")
                || error.contains("is not a cat/dog model"),
            "{what}: {error}"
        );
    }
}

#[test]
fn rough_edges() {
    let dir = tempfile::tempdir().unwrap();
    // The operating system's reason once.
    let error = refused(&catsdogs(&[
        "load-img",
        "/no/such.jpg",
        "--npy",
        path(&dir.path().join("x.npy")),
    ]));
    assert_eq!(
        error.matches("No such file or directory").count(),
        1,
        "{error}"
    );

    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let run = dir.path().join("run");
    // Two runs in one folder: the second is refused while the first holds it.
    let lock = catsdogs::fsutil::FolderLock::acquire(&run).unwrap();
    let error = refused(&catsdogs(&train_args(&data, &run)));
    assert!(
        error.contains("in use by another catsdogs process"),
        "{error}"
    );
    drop(lock);

    // A damaged newest checkpoint: the run resumes from the one before, and says so.
    let mut two = train_args(&data, &run);
    two[6] = "2";
    let out = ok(&catsdogs(&two));
    assert!(out.contains("Epoch 2/2"), "{out}");
    assert_eq!(
        names(&run.join("checkpoints")),
        ["epoch-0001", "epoch-0002"]
    );
    let model = run.join("checkpoints/epoch-0002/model.safetensors");
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&model, bytes).unwrap();
    let mut three = train_args(&data, &run);
    three[6] = "3";
    three.push("--resume");
    let out = ok(&catsdogs(&three));
    assert!(out.contains("epoch-0002 is damaged"), "{out}");
    assert!(out.contains("using the one of epoch 1 instead"), "{out}");
    assert!(out.contains("Resuming after epoch 1/3"), "{out}");
    assert_eq!(
        names(&run.join("checkpoints")),
        ["epoch-0002", "epoch-0003"]
    );
    // Under the command line, messages name its flags.
    let error = refused(&catsdogs(&train_args(&data, &run)));
    assert!(
        error.contains("resume it (--resume, or FitOptions::resume(true))"),
        "{error}"
    );

    // Kaggle ids are unique: 01.jpg and sub-folders are not Kaggle's; two files for one id are
    // refused; a batch of 0 is refused as evaluate refuses it.
    let image = first_image(&data.join("test/cats"));
    let zip_of = |name: &str, entries: &[&str]| {
        let zip = dir.path().join(name);
        let mut args = vec![path(&image).to_string(), path(&zip).to_string()];
        args.extend(entries.iter().map(|e| e.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_python(
            "import sys; import zipfile; z = zipfile.ZipFile(sys.argv[2], 'w')\nfor e in sys.argv[3:]: z.write(sys.argv[1], e)\nz.close()",
            &args,
        );
        zip
    };
    let zip = zip_of(
        "t.zip",
        &[
            "test1/1.jpg",
            "test1/01.jpg",
            "test1/sub/5.jpg",
            "test1/2.jpg",
        ],
    );
    let csv = dir.path().join("s.csv");
    let submit = |zip: &Path, batch: &str| {
        catsdogs(&[&submit_args(&run, zip, &csv)[..], &["--batch-size", batch]].concat())
    };
    let out = ok(&submit(&zip, "50"));
    assert!(out.contains("Skipped test1/01.jpg"), "{out}");
    let written = std::fs::read_to_string(&csv).unwrap();
    let ids: Vec<&str> = written
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"]);
    let twice = zip_of("twice.zip", &["test1/1.jpg", "test1/1.png"]);
    let error = refused(&submit(&twice, "50"));
    assert!(error.contains("two images with id 1"), "{error}");
    let error = refused(&submit(&zip, "0"));
    assert!(error.contains("batch size 0 is empty"), "{error}");

    // A file name that is not UTF-8 is named, with what to do.
    let odd = data
        .join("train/cats")
        .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xff.jpg"));
    std::fs::copy(&image, &odd).unwrap();
    let error = refused(&catsdogs(&["cache", path(&data.join("train"))]));
    assert!(
        error.contains("is not valid UTF-8") && error.contains("rename it"),
        "{error}"
    );
    std::fs::remove_file(&odd).unwrap();

    // GIF and WebP, which Pillow loads, are named.
    let gif = dir.path().join("gif.jpg");
    let webp = dir.path().join("webp.jpg");
    run_python(
        "import sys; from PIL import Image; i = Image.new('RGB', (8, 8)); i.save(sys.argv[1], 'GIF'); i.save(sys.argv[2], 'WEBP')",
        &[path(&gif), path(&webp)],
    );
    for (file, format) in [(&gif, "GIF"), (&webp, "WEBP")] {
        let error = refused(&catsdogs(&[
            "load-img",
            path(file),
            "--npy",
            path(&dir.path().join("x.npy")),
        ]));
        assert!(
            error.contains(&format!("is a {format} image: Keras")),
            "{error}"
        );
    }
}

// ----- Round two: outputs over inputs, interrupted splits, stale caches, broken models -----

/// The tiny synthetic split in `dir/data`, and a one-epoch frozen run on it in `dir/run`.
fn split_and_run(dir: &Path) -> (PathBuf, PathBuf) {
    let (_, data) = sample_split(dir, 30, [40, 10, 10]);
    let run = dir.join("run");
    ok(&catsdogs(&train_args(&data, &run)));
    (data, run)
}

/// The arguments of `features` of `image` at 32x32 with `weights`, into `npy`.
fn features_args<'a>(weights: &'a Path, image: &'a Path, npy: &'a Path) -> Vec<&'a str> {
    let size = ["--target-size", "32x32"];
    [
        &["features", "--weights", path(weights)][..],
        &size,
        &[path(image), "--npy", path(npy)],
    ]
    .concat()
}

/// Every file under `dir`, recursively (links included, not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.symlink_metadata().unwrap().is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The temporary files (`.NAME.XXXXXX.tmp`) under `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

/// Kaggle-like `test1.zip` holding `image` as `test1/1.jpg` ... `test1/N.jpg`.
fn test_zip(image: &Path, zip: &Path, count: usize) {
    run_python(
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[2], 'w')\nfor i in range(1, int(sys.argv[3]) + 1): z.write(sys.argv[1], 'test1/%d.jpg' % i)\nz.close()",
        &[path(image), path(zip), &count.to_string()],
    );
}

/// A small image of one colour, written in the format its extension says.
fn solid_image(path: &Path, rgb: [u8; 3]) {
    catsdogs::image::RgbImage::from_pixel(8, 8, catsdogs::image::Rgb(rgb))
        .save(path)
        .unwrap();
}

#[test]
fn an_output_is_never_one_of_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = split_and_run(dir.path());
    let image = dir.path().join("v.jpg");
    std::fs::copy(first_image(&data.join("test/cats")), &image).unwrap();
    let weights = dir.path().join("w.h5");
    weights_files::write_keras_h5(serde_json::json!({"path": path(&weights), "values": "formula"}));
    let zip = dir.path().join("t1.zip");
    test_zip(&image, &zip, 3);
    let link = dir.path().join("link.npy");
    std::os::unix::fs::symlink(&image, &link).unwrap();
    let model = run.join("model.safetensors");
    let explained = dir.path().join("v-gradcam.png");
    std::fs::copy(&image, &explained).unwrap();
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (submit_args(&run, &zip, &zip), &zip),
        (submit_args(&run, &zip, &model), &model),
        (
            vec!["load-img", path(&image), "--npy", path(&image)],
            &image,
        ),
        (vec!["load-img", path(&image), "--npy", path(&link)], &image),
        (
            vec!["convert-weights", path(&weights), path(&weights)],
            &weights,
        ),
        (features_args(&weights, &image, &image), &image),
        (
            vec![
                "explain",
                path(&image),
                path(&explained),
                "--model",
                path(&run),
                "--out",
                path(dir.path()),
            ],
            &explained,
        ),
    ];
    for (args, input) in cases {
        let before = std::fs::read(input).unwrap();
        let error = refused(&catsdogs(&args));
        assert!(
            error.contains("would destroy that input"),
            "{args:?}: {error}"
        );
        assert_eq!(std::fs::read(input).unwrap(), before, "{args:?}");
    }
}

#[test]
fn a_run_folder_is_new_empty_or_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("history.json"), b"my own history").unwrap();
    std::fs::write(mine.join("notes.txt"), b"my notes").unwrap();
    let error = refused(&catsdogs(&train_args(&data, &mine)));
    assert!(
        error.contains("holds files that are not a catsdogs run") && error.contains("--out"),
        "{error}"
    );
    assert_eq!(names(&mine), ["history.json", "notes.txt"]);
    assert_eq!(
        std::fs::read(mine.join("history.json")).unwrap(),
        b"my own history"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ok(&catsdogs(&train_args(&data, &empty)));
    // A run.json that is not ours is said to be so, by train and by the readers of the run.
    std::fs::write(
        empty.join("run.json"),
        b"{\"experiment\": \"frozen\", garbage",
    )
    .unwrap();
    let image = first_image(&data.join("test/dogs"));
    for args in [
        [&train_args(&data, &empty)[..], &["--resume"]].concat(),
        vec!["predict", path(&empty), path(&image)],
        vec!["evaluate", path(&empty), "--data", path(&data)],
    ] {
        let error = refused(&catsdogs(&args));
        assert!(
            error.contains("run.json: is not a run.json that catsdogs wrote"),
            "{args:?}: {error}"
        );
    }
}

/// Starts `split` of `zip` into `out`, waits until it writes its images (its pending manifest
/// is there, and an image), and sends it `signal`.
fn split_stopped_by(zip: &Path, out: &Path, signal: i32) -> Output {
    let args = cli::split_args(zip, out, [3000, 500, 500]);
    let child = command()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !out.join(".manifest-in-progress.json").exists()
        || !out.join("train/cats").is_dir()
        || names(&out.join("train/cats")).is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the split never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on the child's pid.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait_with_output().unwrap()
}

#[test]
fn an_interrupted_split_is_cleaned_refused_by_readers_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    ok(&catsdogs(&["sample", path(&zip), "--per-class", "2000"]));

    // Ctrl-C: the split stops, says so, and leaves nothing of itself.
    let stopped = dir.path().join("stopped");
    let error = refused(&split_stopped_by(&zip, &stopped, libc::SIGINT));
    assert!(
        error.contains("interrupted while writing the split"),
        "{error}"
    );
    assert_eq!(walk(&stopped), Vec::<PathBuf>::new());

    // kill -9: the pending manifest stays, with the images so far (and a temporary file, as a
    // write cut short leaves), and every reader refuses the split until it is redone.
    let killed = dir.path().join("killed");
    split_stopped_by(&zip, &killed, libc::SIGKILL);
    let pending = killed.join(".manifest-in-progress.json");
    assert!(pending.is_file());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&pending).unwrap()).unwrap();
    let last = manifest["files"].as_array().unwrap().last().unwrap()["file"]
        .as_str()
        .unwrap()
        .to_string();
    let (folder, name) = last.rsplit_once('/').unwrap();
    std::fs::create_dir_all(killed.join(folder)).unwrap();
    let cut_short = killed.join(folder).join(format!(".{name}.Ab12Cd.tmp"));
    std::fs::write(&cut_short, b"half an image").unwrap();
    let run = dir.path().join("run");
    for args in [
        train_args(&killed, &run),
        vec!["flow", path(&killed.join("validation"))],
        vec!["cache", path(&killed.join("train"))],
    ] {
        let error = refused(&catsdogs(&args));
        assert!(
            error.contains("is part of a split that has not finished")
                && error.contains("split again with --force (SplitOptions::force)"),
            "{args:?}: {error}"
        );
    }
    let args = cli::split_args(&zip, &killed, [3000, 500, 500]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let error = refused(&catsdogs(&args));
    assert!(error.contains("was interrupted"), "{error}");

    // On a full disk (here: no file may exceed 200 KB, so the new manifest cannot be written),
    // --force frees what the killed split wrote, temporary files included, before it fails.
    let forced = [&args[..], &["--force"]].concat();
    let error = refused(&with_file_size_limit(&forced, 200_000));
    assert!(error.contains("File too large"), "{error}");
    let left = walk(&killed);
    assert_eq!(
        left,
        std::slice::from_ref(&pending),
        "only the pending manifest is left"
    );
    let error = refused(&catsdogs(&["flow", path(&killed.join("train"))]));
    assert!(error.contains("has not finished"), "{error}");

    // With room, --force makes the split.
    let report = ok(&catsdogs(&forced));
    assert!(report.contains("train: 1500 cats, 1500 dogs"), "{report}");
    assert!(!pending.exists());
    assert_eq!(temporaries(&killed), Vec::<PathBuf>::new());
    ok(&catsdogs(&["flow", path(&killed.join("test"))]));
}

#[test]
fn killed_writes_leave_nothing_that_the_next_write_does_not_remove() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let weights = dir.path().join("w.h5");
    weights_files::write_keras_h5(serde_json::json!({"path": path(&weights), "values": "formula"}));
    let image = first_image(&data.join("test/cats"));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // What kill -9 leaves of a write of out/w.safetensors and out/f.npy, and files of the
    // user's that only look alike.
    let stale = [".w.safetensors.Ab12Cd.tmp", ".f.npy.x9Y8z7.tmp"];
    let theirs = [".w.safetensors.mine", "notes.tmp", ".f.npy.tmp"];
    for name in stale.iter().chain(&theirs) {
        std::fs::write(out.join(name), b"left behind").unwrap();
    }
    ok(&catsdogs(&[
        "convert-weights",
        path(&weights),
        path(&out.join("w.safetensors")),
    ]));
    ok(&catsdogs(&features_args(
        &weights,
        &image,
        &out.join("f.npy"),
    )));
    let mut expected: Vec<&str> = theirs
        .iter()
        .copied()
        .chain(["f.npy", "w.safetensors"])
        .collect();
    expected.sort();
    assert_eq!(names(&out), expected);

    // The temporary folders of checkpoints that were being written (and one named as
    // checkpoints once were): the next checkpoint removes them, and nothing else.
    let run = dir.path().join("run");
    ok(&catsdogs(&train_args(&data, &run)));
    let checkpoints = run.join("checkpoints");
    for name in [".epoch-0002.Qw12Er.tmp", ".epoch-0003.Zx98Cv"] {
        std::fs::create_dir(checkpoints.join(name)).unwrap();
        std::fs::write(
            checkpoints.join(name).join("model.safetensors"),
            [0u8; 4096],
        )
        .unwrap();
    }
    std::fs::write(checkpoints.join("notes"), b"mine").unwrap();
    let mut resumed = train_args(&data, &run);
    resumed[6] = "2";
    resumed.push("--resume");
    ok(&catsdogs(&resumed));
    assert_eq!(names(&checkpoints), ["epoch-0001", "epoch-0002", "notes"]);
}

#[test]
fn the_image_cache_follows_the_content_not_the_dates() {
    let dir = tempfile::tempdir().unwrap();
    let classes = dir.path().join("classes");
    for (file, rgb) in [("cats/a.bmp", [200, 0, 0]), ("dogs/b.bmp", [0, 0, 200])] {
        std::fs::create_dir_all(classes.join(file).parent().unwrap()).unwrap();
        solid_image(&classes.join(file), rgb);
    }
    let cache = |dir: &Path| {
        let out = ok(&catsdogs(&["cache", path(dir), "--target-size", "8x8"]));
        let last = out.lines().last().unwrap();
        last.split_whitespace().next().unwrap().to_string()
    };
    let before = cache(&classes);
    // Another image of the same size, its date kept as `cp --preserve=timestamps` keeps it.
    let file = classes.join("cats/a.bmp");
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let other = dir.path().join("other.bmp");
    solid_image(&other, [0, 200, 0]);
    assert_eq!(
        std::fs::metadata(&other).unwrap().len(),
        std::fs::metadata(&file).unwrap().len()
    );
    std::fs::rename(&other, &file).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_ne!(cache(&classes), before, "the new pixels get a new key");
}

#[test]
fn train_from_a_run_refuses_the_options_it_would_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let frozen = dir.path().join("frozen");
    ok(&catsdogs(&train_args(&data, &frozen)));
    let weights = dir.path().join("w.h5");
    weights_files::write_keras_h5(serde_json::json!({"path": path(&weights), "values": "formula"}));
    let finetune = dir.path().join("finetune");
    let from = |extra: &[&str]| {
        catsdogs(&[&cli::finetune_args(&data, &frozen, &finetune)[..], extra].concat())
    };
    for (extra, flag) in [
        (&["--weights", path(&weights)][..], "--weights"),
        (&["--backbone", "vgg19"], "--backbone"),
        (&["--target-size", "48x48"], "--target-size"),
    ] {
        let error = refused(&from(extra));
        assert!(error.contains(flag) && error.contains("--from"), "{error}");
        assert!(!finetune.join("run.json").exists());
    }
    // Options that agree with the run are honoured; none is recorded that was not used.
    ok(&from(&["--target-size", "32x32", "--backbone", "vgg16"]));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(finetune.join("run.json")).unwrap()).unwrap();
    assert_eq!(config["weights"], serde_json::Value::Null);
    assert_eq!(config["target_size"], serde_json::json!([32, 32]));
    assert_eq!(config["from"], path(&frozen));
}

/// Writes a safetensors file by hand, so that its tensors can be of any type:
/// (name, dtype as safetensors names it, shape, little-endian bytes).
fn write_safetensors(
    file: &Path,
    tensors: &[(String, &str, Vec<i64>, Vec<u8>)],
    metadata: &HashMap<String, String>,
) {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()]}),
        );
        offset += bytes.len();
    }
    let mut json = serde_json::to_vec(&header).unwrap();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    for (_, _, _, bytes) in tensors {
        out.extend(bytes);
    }
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, out).unwrap();
}

#[test]
fn broken_model_files_and_answers_that_are_not_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = split_and_run(dir.path());
    let image = first_image(&data.join("test/dogs"));
    let zip = dir.path().join("t1.zip");
    test_zip(&image, &zip, 3);
    let (tensors, metadata) = catsdogs::tensor_file::read(&run.join("model.safetensors")).unwrap();
    let mut tensors: Vec<(String, tch::Tensor)> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    // The model's file, with `change` applied to the tensor called `name`.
    let variant =
        |folder: &str, name: &str, change: &dyn Fn(&tch::Tensor) -> (&'static str, Vec<u8>)| {
            let file = dir.path().join(folder).join("model.safetensors");
            let written: Vec<_> = tensors
                .iter()
                .map(|(n, t)| {
                    let (dtype, bytes) = if n == name {
                        change(t)
                    } else {
                        (
                            "F32",
                            catsdogs::tensor_file::bytes(t, tch::Kind::Float).unwrap(),
                        )
                    };
                    (n.clone(), dtype, t.size(), bytes)
                })
                .collect();
            write_safetensors(&file, &written, &metadata);
            file.parent().unwrap().to_path_buf()
        };
    let int32 = variant("int32", "dense_2/kernel", &|t| {
        (
            "I32",
            catsdogs::tensor_file::bytes(t, tch::Kind::Int).unwrap(),
        )
    });
    let nan = variant("nan", "dense_1/bias", &|t| {
        let mut values = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        values[3] = f32::NAN;
        ("F32", values.iter().flat_map(|v| v.to_le_bytes()).collect())
    });
    for (model, says) in [
        (&int32, "the weight dense_2/kernel holds int32 values"),
        (&nan, "the weight dense_1/bias holds NaN"),
    ] {
        for args in [
            vec!["predict", path(model), path(&image)],
            vec!["evaluate", path(model), "--data", path(&data)],
        ] {
            let error = refused(&catsdogs(&args));
            assert!(error.contains(says), "{args:?}: {error}");
            assert_eq!(error.matches("dense_").count(), 1, "named once: {error}");
        }
    }
    // Finite weights whose arithmetic overflows (inf - inf): the answer is NaN, which is never
    // printed or written.
    let huge = |value: f32| {
        move |t: &tch::Tensor| {
            (
                "F32",
                vec![value; t.numel()]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            )
        }
    };
    let overflow = variant("overflow", "dense_1/kernel", &huge(3e38));
    let bias = overflow.join("model.safetensors");
    let (mut parts, metadata) = catsdogs::tensor_file::read(&bias).unwrap();
    parts.insert(
        "dense_1/bias".into(),
        tch::Tensor::full([256], 3e38, (tch::Kind::Float, tch::Device::Cpu)),
    );
    let signs: Vec<f32> = (0..256)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    parts.insert(
        "dense_2/kernel".into(),
        tch::Tensor::from_slice(&signs).reshape([256, 1]),
    );
    let parts: Vec<(String, tch::Tensor)> = parts.into_iter().collect();
    catsdogs::tensor_file::write(&bias, &parts, metadata).unwrap();
    let out = catsdogs(&["predict", path(&overflow), path(&image)]);
    let error = refused(&out);
    assert!(error.contains("came out as NaN"), "{error}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));
    let csv = dir.path().join("s.csv");
    let error = refused(&catsdogs(&submit_args(&overflow, &zip, &csv)));
    assert!(error.contains("came out as NaN"), "{error}");
    assert!(!csv.exists());

    // An h5 with a NaN weight is refused at load, by every command that reads weights.
    let weights = dir.path().join("nan.h5");
    weights_files::write_keras_h5(serde_json::json!({"path": path(&weights), "values": "formula"}));
    run_python(
        "import sys, h5py\nwith h5py.File(sys.argv[1], 'r+') as f:\n    d = f['block1_conv1/block1_conv1_b_1:0']\n    v = d[...]\n    v[5] = float('nan')\n    d[...] = v",
        &[path(&weights)],
    );
    let npy = dir.path().join("f.npy");
    for args in [
        features_args(&weights, &image, &npy),
        vec![
            "convert-weights",
            path(&weights),
            path(&dir.path().join("w.safetensors")),
        ],
    ] {
        let error = refused(&catsdogs(&args));
        assert!(
            error.contains("the weight block1_conv1_b_1:0 holds NaN"),
            "{args:?}: {error}"
        );
    }
    assert!(!npy.exists());
}

#[test]
fn no_output_goes_inside_a_split_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = split_and_run(dir.path());
    let zip = dir.path().join("train.zip");
    let image = first_image(&data.join("test/cats"));
    let inside = [
        data.join("test/cats"),
        data.join("train/cats/runs"),
        data.join("validation"),
    ];
    for out in &inside {
        let cases = [
            vec![
                "explain",
                path(&image),
                "--model",
                path(&run),
                "--out",
                path(out),
            ],
            train_args(&data, out),
            vec![
                "split",
                path(&zip),
                path(out),
                "--train",
                "8",
                "--validation",
                "2",
                "--test",
                "2",
            ],
        ];
        for args in cases {
            let error = refused(&catsdogs(&args));
            assert!(
                error.contains("is inside the split folder"),
                "{args:?}: {error}"
            );
        }
    }
    assert!(!data.join("train/cats/runs").exists());
    let listed = ok(&catsdogs(&["flow", path(&data.join("test"))]));
    assert!(!listed.contains("gradcam"), "{listed}");
}

#[test]
fn a_resume_says_what_changed_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = split_and_run(dir.path());
    let mut resumed = train_args(&data, &run);
    resumed[6] = "2";
    resumed.push("--resume");
    let hash = |text: &str| {
        text.split(|c: char| !c.is_ascii_hexdigit())
            .any(|word| word.len() >= 32)
    };
    for split in ["validation", "train"] {
        let image = first_image(&data.join(split).join("dogs"));
        let away = dir.path().join("away.jpg");
        std::fs::rename(&image, &away).unwrap();
        let error = refused(&catsdogs(&resumed));
        let what = if split == "train" { "training" } else { split };
        assert!(
            error.contains(&format!(
                "the {what} images are not those the checkpoint was trained with"
            )),
            "{error}"
        );
        assert!(!hash(&error), "{error}");
        std::fs::rename(&away, &image).unwrap();
    }
    let resized: Vec<&str> = resumed
        .iter()
        .map(|a| if *a == "32x32" { "48x48" } else { a })
        .collect();
    let error = refused(&catsdogs(&resized));
    assert!(
        error.contains("the images are 48x48, the checkpoint's 32x32 (--target-size, or"),
        "{error}"
    );
    assert!(!hash(&error), "{error}");
    ok(&catsdogs(&resumed));
}

/// A `torch.save` zip whose `data.pkl` is `pickle`.
fn torch_zip(file: &Path, pickle: &[u8]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(file).unwrap());
    zip.start_file("archive/data.pkl", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, pickle).unwrap();
    zip.finish().unwrap();
}

#[test]
fn hostile_pickles_are_refused_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    // 565 bytes whose memo refers to itself: each round doubles what a reader would build.
    let mut doubling = b"\x80\x02]q\x00".to_vec();
    for _ in 0..80 {
        doubling.extend(b"h\x00h\x00\x86q\x00");
    }
    doubling.push(b'.');
    // A million tuples, each inside the next.
    let mut nested = b"\x80\x02".to_vec();
    nested.extend(std::iter::repeat_n(b'(', 1_000_000));
    nested.extend(std::iter::repeat_n(b't', 1_000_000));
    nested.push(b'.');
    for (name, pickle, says) in [
        ("doubling.pth", doubling, "builds more than"),
        ("nested.pth", nested, "nests values more than 100 deep"),
    ] {
        let file = dir.path().join(name);
        torch_zip(&file, &pickle);
        let out = dir.path().join("w.safetensors");
        let error = refused(&catsdogs(&["convert-weights", path(&file), path(&out)]));
        assert!(error.contains(says), "{name}: {error}");
    }
}

#[test]
fn split_of_a_folder_of_relative_links_holds_the_images() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    ok(&catsdogs(&["sample", path(&zip), "--per-class", "12"]));
    let real = unpacked(&zip, &dir.path().join("real"));
    let linked = dir.path().join("linked/train");
    std::fs::create_dir_all(&linked).unwrap();
    for name in names(&real) {
        let target = Path::new("../../real/train").join(&name);
        std::os::unix::fs::symlink(target, linked.join(&name)).unwrap();
    }
    let split = dir.path().join("split");
    let split_of = |sizes: [usize; 3], force: &[&str]| {
        let args = cli::split_args(&linked, &split, sizes);
        let args: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .chain(force.iter().copied())
            .collect();
        catsdogs(&args)
    };
    ok(&split_of([8, 4, 4], &[]));
    let images: Vec<PathBuf> = walk(&split)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    assert_eq!(images.len(), 16);
    for image in &images {
        assert!(!image.symlink_metadata().unwrap().is_symlink(), "{image:?}");
        let name = image.file_name().unwrap();
        assert_eq!(
            std::fs::read(image).unwrap(),
            std::fs::read(real.join(name)).unwrap()
        );
    }
    ok(&catsdogs(&[
        "cache",
        path(&split.join("train")),
        "--target-size",
        "8x8",
    ]));

    // A split made of the links themselves (as splits once made, which then led nowhere):
    // --force replaces it.
    for image in &images {
        let input = linked.join(image.file_name().unwrap());
        std::fs::remove_file(image).unwrap();
        std::os::unix::fs::symlink(std::fs::read_link(&input).unwrap(), image).unwrap();
        assert!(std::fs::metadata(image).is_err(), "the link leads nowhere");
    }
    let report = ok(&split_of([6, 4, 4], &["--force"]));
    assert!(report.contains("train: 3 cats, 3 dogs"), "{report}");
    assert!(walk(&split)
        .iter()
        .all(|p| !p.symlink_metadata().unwrap().is_symlink()));
}

#[test]
fn with_the_cache_off_or_elsewhere_nothing_is_written_beside_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let beside = data.join(".catsdogs-cache");
    let run = dir.path().join("run");
    ok(&catsdogs(
        &[&train_args(&data, &run)[..], &["--cache", "off"]].concat(),
    ));
    assert!(!beside.exists(), "{:?}", walk(&beside));
    ok(&catsdogs(&[
        "evaluate",
        path(&run),
        "--data",
        path(&data),
        "--cache",
        "off",
    ]));
    assert!(!beside.exists(), "{:?}", walk(&beside));
    let elsewhere = dir.path().join("caches");
    let second = dir.path().join("second");
    let caching = ["--cache-dir", path(&elsewhere)];
    ok(&catsdogs(
        &[&train_args(&data, &second)[..], &caching].concat(),
    ));
    ok(&catsdogs(
        &[
            &["evaluate", path(&second), "--data", path(&data)][..],
            &caching,
        ]
        .concat(),
    ));
    assert!(!beside.exists(), "{:?}", walk(&beside));
    assert!(
        names(&elsewhere).iter().any(|n| n.starts_with("images-")),
        "{:?}",
        names(&elsewhere)
    );
    // Both runs trained on the same images, decoded the same way.
    let history = |run: &Path| std::fs::read_to_string(run.join("test_metrics.json")).unwrap();
    assert_eq!(history(&run), history(&second));
}

#[test]
fn a_fifo_named_like_an_image_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run) = split_and_run(dir.path());
    let fifo = dir.path().join("f.jpg");
    let name = std::ffi::CString::new(path(&fifo)).unwrap();
    // SAFETY: mkfifo(3) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    let npy = dir.path().join("x.npy");
    for args in [
        vec!["predict", path(&run), path(&fifo)],
        vec!["load-img", path(&fifo), "--npy", path(&npy)],
    ] {
        let mut child = command()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                child.kill().unwrap();
                panic!("{args:?} waits on the FIFO");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let error = refused(&child.wait_with_output().unwrap());
        assert!(error.contains("is a FIFO"), "{error}");
    }
}

#[test]
fn messages_say_what_is_wrong_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    // train's hint names train's flag.
    let vgg16 = dir.path().join("vgg16.h5");
    weights_files::write_keras_h5(serde_json::json!({"path": path(&vgg16), "values": "formula"}));
    let run = dir.path().join("run");
    let args = [
        &train_args(&data, &run)[..],
        &["--backbone", "vgg19", "--weights", path(&vgg16)],
    ]
    .concat();
    let error = refused(&catsdogs(&args));
    assert!(
        error.contains("(--backbone vgg16, or Backbone::Vgg16)") && !error.contains("--model"),
        "{error}"
    );

    // Keras's .h5 in half or double precision loads as Keras loads it; integers are refused,
    // the tensor named once.
    let as_dtype = |dtype: &str| {
        let file = dir.path().join(format!("{dtype}.h5"));
        run_python(
            "import sys, h5py, numpy as np\nsrc, dst, dtype = sys.argv[1:4]\nwith h5py.File(src, 'r') as f, h5py.File(dst, 'w') as g:\n    for k, v in f.attrs.items(): g.attrs[k] = v\n    def copy(name, obj):\n        if isinstance(obj, h5py.Group):\n            grp = g.require_group(name)\n            for k, v in obj.attrs.items(): grp.attrs[k] = v\n        else:\n            g.create_dataset(name, data=obj[...].astype(np.float16).astype(dtype))\n    f.visititems(copy)",
            &[path(&vgg16), path(&file), dtype],
        );
        file
    };
    let converted = |file: &Path| {
        let out = file.with_extension("safetensors");
        ok(&catsdogs(&["convert-weights", path(file), path(&out)]));
        let (tensors, _) = catsdogs::tensor_file::read(&out).unwrap();
        tensors
    };
    let single = converted(&as_dtype("float32"));
    for dtype in ["float16", "float64"] {
        let other = converted(&as_dtype(dtype));
        assert_eq!(other.len(), single.len());
        for (name, tensor) in &single {
            assert!(other[name].equal(tensor), "{dtype}: {name}");
        }
    }
    let error = refused(&catsdogs(&[
        "convert-weights",
        path(&as_dtype("int32")),
        path(&dir.path().join("i.safetensors")),
    ]));
    assert!(
        error.contains("the weight block1_conv1/block1_conv1_W_1:0 holds int32 values"),
        "{error}"
    );
    assert_eq!(error.matches("W_1:0").count(), 1, "{error}");

    // One missing file among many: the others are predicted, then the command fails.
    ok(&catsdogs(&train_args(&data, &run)));
    let images: Vec<PathBuf> = names(&data.join("test/cats"))
        .iter()
        .map(|n| data.join("test/cats").join(n))
        .collect();
    let missing = dir.path().join("missing.jpg");
    let mut args = vec!["predict", path(&run)];
    args.extend(images[..2].iter().map(|p| path(p)));
    args.push(path(&missing));
    args.extend(images[2..].iter().map(|p| path(p)));
    let out = catsdogs(&args);
    let error = refused(&out);
    assert!(
        error.contains(&format!(
            "1 of the {} images could not be predicted",
            images.len() + 1
        )) && error.matches("missing.jpg").count() == 1,
        "{error}"
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.lines().count(), images.len(), "{printed}");
}

/// Runs the binary with the umask `mask`.
fn with_umask(args: &[&str], mask: libc::mode_t) -> Output {
    let mut cmd = command();
    cmd.args(args);
    // SAFETY: umask(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn outputs_keep_the_mode_the_umask_gives() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = sample_split(dir.path(), 30, [40, 10, 10]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let run = dir.path().join("run");
    ok(&with_umask(&train_args(&data, &run), 0o022));
    for file in [
        "run.json",
        "model.safetensors",
        "history.json",
        "curves.png",
    ] {
        assert_eq!(mode(&run.join(file)), 0o644, "{file}");
    }
    assert_eq!(mode(&run.join("checkpoints/epoch-0001")), 0o755);
    assert_eq!(mode(&run.join("checkpoints/epoch-0001/state.json")), 0o644);
    let image = first_image(&data.join("test/cats"));
    let npy = dir.path().join("x.npy");
    ok(&with_umask(
        &["load-img", path(&image), "--npy", path(&npy)],
        0o027,
    ));
    assert_eq!(mode(&npy), 0o640);
    // A replaced file keeps its own mode.
    std::fs::set_permissions(&npy, std::fs::Permissions::from_mode(0o604)).unwrap();
    ok(&with_umask(
        &["load-img", path(&image), "--npy", path(&npy)],
        0o022,
    ));
    assert_eq!(mode(&npy), 0o604);
}

#[test]
fn predict_goes_through_many_files_a_batch_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run) = split_and_run(dir.path());
    let images: Vec<PathBuf> = (0..150)
        .map(|i| {
            let file = dir.path().join(format!("img-{i:03}.png"));
            solid_image(&file, [(i * 13 % 256) as u8, (i * 7 % 256) as u8, 90]);
            file
        })
        .collect();
    let predict = |batch: &str| {
        let mut args = vec!["predict", path(&run), "--batch-size", batch];
        args.extend(images.iter().map(|p| path(p)));
        ok(&catsdogs(&args))
    };
    let batched = predict("7");
    assert_eq!(batched.lines().count(), images.len());
    for (line, image) in batched.lines().zip(&images) {
        assert!(
            line.starts_with(&format!("{}: ", image.display())),
            "{line}"
        );
    }
    // The batches change nothing but the memory.
    assert_eq!(batched, predict("150"));
    let error = refused(&catsdogs(&[
        "predict",
        path(&run),
        "--batch-size",
        "0",
        path(&images[0]),
    ]));
    assert!(error.contains("batch size 0 is empty"), "{error}");
}
