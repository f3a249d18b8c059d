//! `split` and `sample`: the tutorial's stratified split of a Kaggle-like train.zip, the
//! manifest, re-runs, changed inputs, hostile and broken entries, and the synthetic sample.

mod common;

use std::path::{Path, PathBuf};

use catsdogs::data::{sample, split, Manifest, SampleOptions, SplitOptions};
use catsdogs::Error;
use sha2::{Digest, Sha256};

/// A synthetic train.zip with `per_class` images of each class.
fn sample_zip(dir: &Path, per_class: usize) -> PathBuf {
    let path = dir.join("train.zip");
    let options = SampleOptions {
        per_class,
        ..SampleOptions::default()
    };
    sample(&path, &options).unwrap();
    path
}

fn files_of(manifest: &Manifest) -> Vec<(String, String, String)> {
    manifest
        .files
        .iter()
        .map(|f| (f.file.clone(), f.split.clone(), f.sha256.clone()))
        .collect()
}

#[test]
fn split_is_stratified_deterministic_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let zip = sample_zip(dir.path(), 20);
    let out = dir.path().join("data");
    let report = split(&zip, &out, &SplitOptions::sizes(20, 10, 10)).unwrap();
    assert!(!report.unchanged);
    for (s, n) in [("train", 10), ("validation", 5), ("test", 5)] {
        for class in ["cats", "dogs"] {
            assert_eq!(report.count(s, class), n, "{s}/{class}");
            let on_disk = std::fs::read_dir(out.join(s).join(class)).unwrap().count();
            assert_eq!(on_disk, n, "{s}/{class} on disk");
        }
    }
    // Every image once, in the folder of its class, with its size and hash.
    let manifest = Manifest::read(&out).unwrap().unwrap();
    assert_eq!(manifest, report.manifest);
    assert_eq!(manifest.files.len(), 40);
    assert!(manifest.synthetic);
    assert!(out.join("SYNTHETIC.txt").is_file());
    for f in &manifest.files {
        let bytes = std::fs::read(out.join(&f.file)).unwrap();
        assert_eq!(bytes.len() as u64, f.size);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha, f.sha256, "{}", f.file);
        let name = f.file.rsplit('/').next().unwrap();
        assert!(name.starts_with(&f.class[..3]), "{}", f.file);
        assert_eq!(f.entry, format!("train/{name}"));
    }
    let mut names: Vec<_> = manifest.files.iter().map(|f| f.entry.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 40);

    // The same input split again elsewhere, or from its extracted folder, gives the same split.
    let again = split(
        &zip,
        &dir.path().join("again"),
        &SplitOptions::sizes(20, 10, 10),
    )
    .unwrap();
    assert_eq!(files_of(&again.manifest), files_of(&manifest));
    let extracted = dir.path().join("extracted");
    common::run_python(
        "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        &[zip.to_str().unwrap(), extracted.to_str().unwrap()],
    );
    let from_folder = split(
        &extracted,
        &dir.path().join("from_folder"),
        &SplitOptions::sizes(20, 10, 10),
    )
    .unwrap();
    assert_eq!(files_of(&from_folder.manifest), files_of(&manifest));
    assert!(from_folder.manifest.synthetic);

    // Another seed deals other images.
    let options = SplitOptions {
        seed: 1,
        ..SplitOptions::sizes(20, 10, 10)
    };
    let reseeded = split(&zip, &dir.path().join("reseeded"), &options).unwrap();
    assert_ne!(files_of(&reseeded.manifest), files_of(&manifest));
}

#[test]
fn rerun_is_a_no_op_and_a_changed_input_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let zip = sample_zip(dir.path(), 10);
    let out = dir.path().join("data");
    let options = SplitOptions::sizes(10, 4, 4);
    split(&zip, &out, &options).unwrap();
    let manifest_time = std::fs::metadata(out.join("manifest.json"))
        .unwrap()
        .modified()
        .unwrap();

    let rerun = split(&zip, &out, &options).unwrap();
    assert!(rerun.unchanged);
    assert!(rerun.to_string().contains("nothing to do"));
    let after = std::fs::metadata(out.join("manifest.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(after, manifest_time);

    // Other options.
    let err = split(&zip, &out, &SplitOptions::sizes(8, 4, 4)).unwrap_err();
    assert!(err.to_string().contains("was split with other options (--train 10 --validation 4 --test 4 --seed 0, now --train 8"), "{err}");

    // Another input: one more image.
    let bigger = sample_zip(&dir.path().join("bigger"), 11);
    let err = split(&bigger, &out, &options).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("was split from another input"),
        "{message}"
    );
    assert!(
        message.contains("2 entries added, 0 removed, 0 changed in size"),
        "{message}"
    );
    assert!(message.contains("SplitOptions::force"), "{message}");

    let forced = SplitOptions {
        force: true,
        ..SplitOptions::sizes(10, 4, 4)
    };
    let report = split(&bigger, &out, &forced).unwrap();
    assert!(!report.unchanged);
    assert_eq!(
        report.manifest.skipped.len(),
        4,
        "{:?}",
        report.manifest.skipped
    );
    let on_disk: usize = ["train", "validation", "test"]
        .iter()
        .flat_map(|s| ["cats", "dogs"].map(|c| out.join(s).join(c)))
        .map(|d| std::fs::read_dir(d).unwrap().count())
        .sum();
    assert_eq!(on_disk, 18);
}

#[test]
fn broken_and_hostile_entries_are_listed_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample_zip(dir.path(), 6);
    let zip = dir.path().join("mixed.zip");
    let script = r#"
import sys, zipfile
src, dst = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2], "w")
for name in src.namelist():
    dst.writestr(name, src.read(name))
cat = src.read("train/cat.0.jpg")
dst.writestr("../escape/cat.100.jpg", cat)
dst.writestr("/abs/dog.101.jpg", cat)
dst.writestr("train/cat.102.jpg", cat[: len(cat) // 2])
dst.writestr("train/dog.103.jpg", b"not a jpeg at all")
dst.writestr("train/readme.txt", b"hello")
dst.writestr("other/cat.0.jpg", cat)
dst.close()
"#;
    common::run_python(script, &[good.to_str().unwrap(), zip.to_str().unwrap()]);
    let out = dir.path().join("out");
    let report = split(&zip, &out, &SplitOptions::sizes(8, 2, 2)).unwrap();
    let reason = |entry: &str| {
        report
            .manifest
            .skipped
            .iter()
            .find(|s| s.entry == entry)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{entry} is not listed: {:?}", report.manifest.skipped))
    };
    assert!(reason("../escape/cat.100.jpg").starts_with("refused: its path would leave"));
    assert!(reason("/abs/dog.101.jpg").starts_with("refused"));
    assert!(reason("train/cat.102.jpg").contains("is truncated"));
    assert!(reason("train/dog.103.jpg").contains("is not an image"));
    assert!(reason("train/readme.txt").starts_with("not an image named cat.N"));
    // The first of two entries with one name wins, in the zip's order.
    assert_eq!(reason("other/cat.0.jpg"), "duplicate of train/cat.0.jpg");
    assert_eq!(report.manifest.files.len(), 12);
    assert!(!dir.path().join("escape").exists());
    assert!(!dir.path().join("abs").exists());
}

#[test]
fn all_puts_everything_in_train_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let zip = sample_zip(dir.path(), 12);
    let options = SplitOptions {
        all: true,
        ..SplitOptions::sizes(0, 6, 0)
    };
    let report = split(&zip, &dir.path().join("all"), &options).unwrap();
    for class in ["cats", "dogs"] {
        assert_eq!(report.count("train", class), 9);
        assert_eq!(report.count("validation", class), 3);
        assert_eq!(report.count("test", class), 0);
    }
    // No empty test/ that a later flow_from_directory would take for a broken split.
    assert!(dir.path().join("all/train/cats").is_dir());
    assert!(!dir.path().join("all/test").exists());
}

#[test]
fn impossible_or_missing_inputs_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let zip = sample_zip(dir.path(), 5);
    let err = split(&zip, &dir.path().join("out"), &SplitOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("has 5 readable cats images, but the split asks for 8000 + 2250 + 2250 of each class: pass smaller sizes"),
        "{err}"
    );
    assert!(!dir.path().join("out/manifest.json").exists());

    let err = split(
        &dir.path().join("nope.zip"),
        &dir.path().join("out"),
        &SplitOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Missing { .. }), "{err}");

    let not_zip = dir.path().join("train.txt");
    std::fs::write(&not_zip, "hello").unwrap();
    let err = split(&not_zip, &dir.path().join("out"), &SplitOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("is neither a folder nor a readable zip archive"),
        "{err}"
    );

    // A split folder without a manifest (an interrupted run) is not overwritten silently.
    let out = dir.path().join("interrupted");
    std::fs::create_dir_all(out.join("train/cats")).unwrap();
    let err = split(&zip, &out, &SplitOptions::sizes(4, 2, 2)).unwrap_err();
    assert!(err.to_string().contains("no manifest.json"), "{err}");
    let forced = SplitOptions {
        force: true,
        ..SplitOptions::sizes(4, 2, 2)
    };
    assert_eq!(split(&zip, &out, &forced).unwrap().manifest.files.len(), 8);
}

#[test]
fn sample_is_deterministic_varied_and_labelled_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    let a = sample_zip(&dir.path().join("a"), 300);
    let b = sample_zip(&dir.path().join("b"), 300);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Pillow reads it: names, the note, sizes, and the two classes' colours.
    let script = r#"
import sys, io, zipfile, numpy as np
from PIL import Image
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
sizes, warm = set(), {"cat": 0, "dog": 0}
for n in names:
    if n.endswith(".jpg"):
        im = Image.open(io.BytesIO(z.read(n)))
        assert im.format == "JPEG" and im.mode == "RGB"
        sizes.add(im.size)
        r, g, b = np.asarray(im, dtype=float).reshape(-1, 3).mean(0)
        warm[n.split("/")[1][:3]] += r > b
print(len(names), "train/SYNTHETIC.txt" in names, b"SYNTHETIC" in z.comment, len(sizes), warm["cat"], warm["dog"])
"#;
    let out = common::run_python(script, &[a.to_str().unwrap()]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[..3], ["601", "True", "True"]);
    assert!(fields[3].parse::<usize>().unwrap() > 250, "{out}");
    assert_eq!(fields[4..], ["300", "0"], "cats are warm, dogs cool");
}
