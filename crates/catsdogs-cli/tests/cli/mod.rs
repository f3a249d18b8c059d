//! Helpers shared by the command-line tests: running the binary, reading its result, and the
//! tiny synthetic split that most of them start from.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `catsdogs` binary, ready for arguments.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_catsdogs"))
}

/// Runs the binary with `args`.
pub fn catsdogs(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .expect("the catsdogs binary runs")
}

/// The stdout of a run that succeeded; panics with its stderr otherwise.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The error sentence of a run that was refused: exit status 1 and one line on stderr that
/// starts with `error: `, without a panic. Panics otherwise.
pub fn refused(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "not refused: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .rfind(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error sentence: {stderr}"));
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{stderr}"
    );
    line.to_string()
}

/// A path as the `&str` that arguments take.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A synthetic `train.zip` with `per_class` images of each class in `dir`, split into
/// `dir/data` with `sizes` (train, validation, test). Returns (zip, split folder).
pub fn sample_split(dir: &Path, per_class: usize, sizes: [usize; 3]) -> (PathBuf, PathBuf) {
    let zip = dir.join("train.zip");
    let data = dir.join("data");
    ok(&catsdogs(&[
        "sample",
        path(&zip),
        "--per-class",
        &per_class.to_string(),
    ]));
    let split = split_args(&zip, &data, sizes);
    ok(&catsdogs(
        &split.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    (zip, data)
}

/// The arguments of `split` of `zip` into `out` with `sizes` (train, validation, test).
pub fn split_args(zip: &Path, out: &Path, sizes: [usize; 3]) -> Vec<String> {
    let [train, validation, test] = sizes.map(|n| n.to_string());
    ["split", path(zip), path(out), "--train", &train]
        .into_iter()
        .chain(["--validation", &validation, "--test", &test])
        .map(str::to_string)
        .collect()
}

/// The first image (in directory order) of a class folder, e.g. `data/test/cats`.
pub fn first_image(dir: &Path) -> PathBuf {
    let entry = dir
        .read_dir()
        .unwrap()
        .next()
        .expect("a class folder holds images");
    entry.unwrap().path()
}

/// The arguments of `submit` of the run in `run` on Kaggle's `test_zip`, into `csv`.
pub fn submit_args<'a>(run: &'a Path, test_zip: &'a Path, csv: &'a Path) -> Vec<&'a str> {
    vec![
        "submit",
        "--model",
        path(run),
        "--test-zip",
        path(test_zip),
        "--out",
        path(csv),
    ]
}

/// The arguments of a one-epoch run of `experiment` on `data` into `out` in batches of 20, with
/// `more` before `--out`.
fn one_epoch<'a>(
    experiment: &'a str,
    data: &'a Path,
    more: [&'a str; 2],
    out: &'a Path,
) -> Vec<&'a str> {
    vec![
        "train",
        "--experiment",
        experiment,
        "--data",
        path(data),
        "--epochs",
        "1",
        "--batch-size",
        "20",
        more[0],
        more[1],
        "--out",
        path(out),
    ]
}

/// The arguments of a one-epoch frozen run at 32x32 on `data`, into `out`.
pub fn train_args<'a>(data: &'a Path, out: &'a Path) -> Vec<&'a str> {
    one_epoch("frozen", data, ["--target-size", "32x32"], out)
}

/// The arguments of a one-epoch fine-tune on `data` from the run `from`, into `out`.
pub fn finetune_args<'a>(data: &'a Path, from: &'a Path, out: &'a Path) -> Vec<&'a str> {
    one_epoch("finetune", data, ["--from", path(from)], out)
}
