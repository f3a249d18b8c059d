//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::process::Command;

pub mod keras_files;

/// The Python of the project's venv (torch, numpy, Pillow, h5py, scipy, Keras 3 and tf_keras),
/// which the tests use to make reference files and values with the peers' own code.
/// `environment/test` sets `CATSDOGS_VENV`.
pub fn python() -> Command {
    Command::new(venv_python())
}

/// The path of [`python`]'s interpreter: `$CATSDOGS_VENV`, else the venv in [`cache_root`].
pub fn venv_python() -> std::path::PathBuf {
    std::env::var_os("CATSDOGS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| cache_root().join("venv"))
        .join("bin/python")
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

/// The Python with the peers (Keras on TensorFlow, torchvision): the bench's venv once
/// environment/bench has installed it whole (its stamp is written last, so a venv being
/// installed is not used), else the project's (Keras on its torch backend).
pub fn peer_python() -> std::path::PathBuf {
    let bench = cache_root().join("bench-venv");
    if bench.join(".catsdogs-requirements").is_file() {
        return bench.join("bin/python");
    }
    venv_python()
}

/// The machine-wide folder of the project's heavy tools and caches (`$CATSDOGS_CACHE`).
pub fn cache_root() -> std::path::PathBuf {
    match std::env::var_os("CATSDOGS_CACHE") {
        Some(dir) => dir.into(),
        None => {
            let home = std::env::var("HOME").expect("HOME is set");
            std::path::Path::new(&home).join(".cache/catsdogs")
        }
    }
}

/// Reference files that a Python script makes once and that are kept between runs: the folder
/// `$CATSDOGS_CACHE/test-references/NAME-KEY`, where KEY hashes the script and its arguments,
/// so that a changed script makes new ones. The script runs with `python`, the folder to fill
/// and `args`; it fills a temporary folder that is renamed into place only once complete, so an
/// interrupted run leaves nothing that a later one would trust. Prints how long making them took.
pub fn cached_references(
    name: &str,
    python: &std::path::Path,
    script: &str,
    args: &[&str],
) -> std::path::PathBuf {
    let key = catsdogs::hashing::sha256_hex(
        [script]
            .iter()
            .chain(args)
            .flat_map(|s| [s.as_bytes(), &[0u8]])
            .flatten()
            .copied()
            .collect::<Vec<u8>>(),
    );
    let root = cache_root().join("test-references");
    let dir = root.join(format!("{name}-{}", &key[..16]));
    if dir.is_dir() {
        return dir;
    }
    std::fs::create_dir_all(&root).expect("the test cache folder can be made");
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(&root)
        .expect("a temporary folder in the test cache");
    let start = std::time::Instant::now();
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(partial.path())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} failed making the {name} references:\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "made the {name} references in {:.1} s, kept in {}",
        start.elapsed().as_secs_f64(),
        dir.display()
    );
    // Another test process may have made them meanwhile: theirs are as good as these.
    let partial = partial.keep();
    if std::fs::rename(&partial, &dir).is_err() {
        std::fs::remove_dir_all(&partial).ok();
        assert!(
            dir.is_dir(),
            "cannot keep the references in {}",
            dir.display()
        );
    }
    dir
}

/// What a peer (Keras, torchvision) computed with its own code, in a folder that
/// [`cached_references`] made: `NAME.npy` arrays and a `report.json` that lists, per case, the
/// layers compared.
pub struct References {
    /// The peer's name, for messages.
    pub peer: &'static str,
    /// The folder.
    pub dir: std::path::PathBuf,
    /// Brings one of our tensors to the peer's layout (Keras's NHWC, say).
    pub layout: fn(&tch::Tensor) -> tch::Tensor,
}

impl References {
    /// The array `NAME.npy`.
    pub fn npy(&self, name: &str) -> tch::Tensor {
        tch::Tensor::read_npy(self.dir.join(format!("{name}.npy"))).unwrap()
    }

    /// The script's `report.json`.
    pub fn report(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join("report.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Asserts that `ours` is within 1e-4 of the peer's values, relative to their largest
    /// magnitude, and prints the error.
    pub fn assert_close(&self, what: &str, ours: &tch::Tensor, theirs: &tch::Tensor) {
        let ours = (self.layout)(ours);
        assert_eq!(ours.size(), theirs.size(), "{what}");
        let scale = theirs.abs().max().double_value(&[]);
        assert!(
            scale > 0.0,
            "{what}: {}'s values are not all zero",
            self.peer
        );
        let error = (&ours - theirs).abs().max().double_value(&[]) / scale;
        eprintln!("{what}: relative error {error:.1e}");
        assert!(
            error < 1e-4,
            "{what} differs from {}'s by {error:.2e} (relative)",
            self.peer
        );
    }

    /// `base` run on `x` to each layer that the report lists for `case`, against the peer's
    /// `CASE-LAYER.npy`.
    pub fn assert_layers(&self, case: &str, base: &catsdogs::model::Model, x: &tch::Tensor) {
        for layer in self.report()[case].as_array().unwrap() {
            let layer = layer.as_str().unwrap();
            let ours = base.forward_to(x, layer).unwrap();
            let theirs = self.npy(&format!("{case}-{layer}"));
            self.assert_close(&format!("{case} {layer}"), &ours, &theirs);
        }
    }

    /// `network` (with its top) on the peer's `CASE-top-pixels`, preprocessed as the network
    /// wants, against the peer's `CASE-predictions`; returns ours and theirs.
    pub fn assert_predictions(
        &self,
        case: &str,
        network: &catsdogs::model::Model,
    ) -> (tch::Tensor, tch::Tensor) {
        let pixels = self.npy(&format!("{case}-top-pixels"));
        let x = catsdogs::data::preprocess_batch(&pixels, network.preprocess());
        let ours = network.forward(&x).unwrap();
        let theirs = self.npy(&format!("{case}-predictions"));
        self.assert_close(&format!("{case} predictions"), &ours, &theirs);
        (ours, theirs)
    }
}
