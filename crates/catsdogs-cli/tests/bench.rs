//! `catsdogs bench`: each measurement prints one JSON line with what it measured, and a wrong
//! call ends with one sentence and exit status 1. Only behaviour is checked here; the numbers
//! belong in BENCHMARKS.md.

mod cli;

use std::path::Path;
use std::process::Output;

use cli::path;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    cli::command()
        .args(args)
        .env("CATSDOGS_DEVICE", "cpu")
        .output()
        .unwrap()
}

/// Runs the binary and returns its last stdout line as JSON; panics with stderr if it fails.
fn json_line(args: &[&str]) -> Value {
    let stdout = cli::ok(&run(args));
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// A split of the synthetic sample: 16 training and 4 validation images, no test folder.
fn sample(dir: &Path) -> std::path::PathBuf {
    let zip = dir.join("train.zip");
    let data = dir.join("data");
    let out = run(&["sample", path(&zip), "--per-class", "10"]);
    assert!(out.status.success());
    let out = run(&[
        "split",
        path(&zip),
        path(&data),
        "--all",
        "--validation",
        "4",
    ]);
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(data.join("test"));
    data
}

#[test]
fn decode_times_every_listed_file_with_the_threads_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(dir.path());
    let files: Vec<String> = ["train/cats", "train/dogs"]
        .iter()
        .flat_map(|d| std::fs::read_dir(data.join(d)).unwrap())
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let list = dir.path().join("files.txt");
    std::fs::write(&list, files.join("\n")).unwrap();
    for threads in ["1", "2"] {
        let line = json_line(&[
            "bench",
            "decode",
            "--files",
            path(&list),
            "--threads",
            threads,
        ]);
        assert_eq!(line["images"], files.len());
        assert_eq!(line["threads"].to_string(), threads);
        assert!(line["seconds"].as_f64().unwrap() > 0.0);
        assert!(line["images_per_second"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn augment_counts_the_timed_images_and_says_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let train = sample(dir.path()).join("train");
    let args = [
        "bench",
        "augment",
        "--data",
        path(&train),
        "--target-size",
        "48x40",
    ];
    // Two timed epochs of 16 images in batches of 5, the last one short.
    let line = json_line(
        &[
            &args[..],
            &["--batch", "5", "--epochs", "2", "--threads", "2"],
        ]
        .concat(),
    );
    assert_eq!(line["images"], 32);
    assert_eq!(line["augment"], "classic");
    assert_eq!(line["threads"], 2);
    // Each epoch cut short after the batch that reaches 7 images: 10 a time.
    let line = json_line(
        &[
            &args[..],
            &["--batch", "5", "--epochs", "3", "--images", "7"],
        ]
        .concat(),
    );
    assert_eq!(line["images"], 30);
    let out = run(&[&args[..], &["--augment", "zoom_range=[1.2,0.8]"]].concat());
    assert!(cli::refused(&out).contains("wrong order"));
}

#[test]
fn forward_counts_the_timed_batches() {
    let line = json_line(&[
        "bench",
        "forward",
        "--batch",
        "2",
        "--iterations",
        "3",
        "--target-size",
        "32x32",
        "--device",
        "cpu",
    ]);
    assert_eq!(line["images"], 6);
    assert_eq!(line["batch"], 2);
    assert_eq!(line["device"], "cpu");
}

#[test]
fn epoch_reports_each_epoch_with_and_without_the_feature_cache() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(dir.path());
    for cache in ["on", "off"] {
        let out = dir.path().join(format!("run-{cache}"));
        let line = json_line(&[
            "bench",
            "epoch",
            "--data",
            path(&data),
            "--experiment",
            "finetune",
            "--epochs",
            "2",
            "--batch",
            "8",
            "--target-size",
            "32x32",
            "--cache",
            cache,
            "--device",
            "cpu",
            "--out",
            path(&out),
        ]);
        assert_eq!(line["images"], 2 * 16);
        assert_eq!(line["epoch_seconds"].as_array().unwrap().len(), 2);
        assert_eq!(line["cache"], cache == "on");
        // The first epoch's start and end, from the process's start: what the bench sets beside
        // a second run's, which finds the features on disk.
        let seconds = |key: &str| line[key].as_f64().unwrap();
        assert!(seconds("first_epoch_seconds") >= seconds("before_first_epoch_seconds"));
        assert!(out.join("history.json").is_file());
    }
}

#[test]
fn wrong_calls_end_with_one_sentence() {
    let out = run(&["bench", "decode", "--files", "/nonexistent/files.txt"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot read the file list"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // CATSDOGS_DEVICE=cpu hides any GPU, so the GPU checks refuse to run.
    for args in [
        &["bench", "agree"][..],
        &["bench", "forward", "--device", "cuda"][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no CUDA GPU"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
