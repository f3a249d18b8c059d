//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::Command;

/// The Python of the project's venv (torch, numpy, Pillow, h5py), which the tests use to make
/// reference files and values with the peers' own code. `environment/test` sets `CATSDOGS_VENV`.
pub fn python() -> Command {
    let venv = std::env::var("CATSDOGS_VENV").unwrap_or_else(|_| {
        let home = std::env::var("HOME").expect("HOME is set");
        format!("{home}/.cache/catsdogs/venv")
    });
    Command::new(format!("{venv}/bin/python"))
}

/// Runs a Python script with arguments and returns its stdout; panics with its stderr if it fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = python()
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("the venv's python runs (run ./environment/setup first)");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python prints UTF-8")
}
