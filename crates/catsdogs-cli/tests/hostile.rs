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

/// The peak resident memory of the binary run with `args`, in KiB (it must end well).
fn peak_memory_kib(args: &[&str]) -> i64 {
    // Waited for below with wait4, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = command().args(args).stdout(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?}"
    );
    usage.ru_maxrss
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
    assert!(!error.contains("SplitOptions"), "{error}");
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
        (
            vec![
                "features",
                "--weights",
                path(&weights),
                "--target-size",
                "32x32",
                path(&image),
                "--npy",
                path(&f_npy),
            ],
            f_npy.clone(),
        ),
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
    assert!(error.contains("resume it (--resume)"), "{error}");

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
