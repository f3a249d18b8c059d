//! The split's manifest, `<out>/manifest.json`: where every entry of the input went (file,
//! class, split, size, SHA-256), which entries were left out and why, and what the input and
//! the options were, so that a re-run can tell "nothing to do" from "the input changed".
//!
//! The manifests also say what a split folder is, for everyone else: a folder with
//! `train/`, `validation/` and `test/` beside a manifest. While a split writes, its manifest is
//! the pending one ([`PENDING_FILE`]), and no reader takes the folders for a finished split
//! ([`refuse_unfinished_split`]); no command writes its outputs into them, where they would
//! become images of a class ([`refuse_output_inside_split`]).

use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil::{resolve, write_atomic};

/// The file name of the manifest inside the split's output folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest of a split in progress, written before its first image and removed when the
/// split has finished.
pub(crate) const PENDING_FILE: &str = ".manifest-in-progress.json";
/// The split folders.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];

/// Refuses to read `dir` (a folder of class folders, or a split folder) while the split that
/// makes it has not finished: its images are not all there, and a class may be missing.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir_all(dir.path().join("train/cats")).unwrap();
/// std::fs::write(dir.path().join(".manifest-in-progress.json"), b"{}").unwrap();
/// let err = catsdogs::data::list_images(&dir.path().join("train")).unwrap_err();
/// assert!(err.to_string().contains("has not finished"), "{err}");
/// ```
pub(crate) fn refuse_unfinished_split(dir: &Path) -> Result<()> {
    let split = [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .find(|folder| folder.join(PENDING_FILE).exists());
    match split {
        None => Ok(()),
        Some(split) => Err(Error::invalid(
            dir,
            format!(
                "is part of a split that has not finished (it was interrupted, or is still running: {} is there), so some of its images are missing: split again with --force (SplitOptions::force) to finish it",
                split.join(PENDING_FILE).display(),
            ),
        )),
    }
}

/// Refuses an output folder `out` inside a split folder (`train/`, `validation/` or `test/`
/// beside a manifest, finished or not), where `flow_from_directory` would read what is written
/// as a class or as images of one. Every command that writes a folder asks first.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir_all(dir.path().join("test/cats")).unwrap();
/// std::fs::write(dir.path().join("manifest.json"), b"{}").unwrap();
/// use catsdogs::data::refuse_output_inside_split;
/// assert!(refuse_output_inside_split(&dir.path().join("runs/explained")).is_ok());
/// let err = refuse_output_inside_split(&dir.path().join("test/cats/maps")).unwrap_err();
/// assert!(err.to_string().contains("inside the split folder"), "{err}");
/// ```
pub fn refuse_output_inside_split(out: &Path) -> Result<()> {
    let at = resolve(out);
    let inside = at.ancestors().find(|folder| {
        let split = folder
            .file_name()
            .is_some_and(|name| SPLITS.iter().any(|s| name == *s));
        let parent = folder.parent();
        split
            && parent
                .is_some_and(|p| p.join(MANIFEST_FILE).is_file() || p.join(PENDING_FILE).is_file())
    });
    match inside {
        None => Ok(()),
        Some(split) => Err(Error::invalid(
            out,
            format!(
                "is inside the split folder {}, where what is written would be read as images of a class: write to a folder outside {}",
                split.display(),
                split.parent().unwrap_or(split).display()
            ),
        )),
    }
}

/// The manifest of a split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The format's name and version.
    pub format: String,
    /// Whether the input is the synthetic sample (`catsdogs sample`), not Kaggle's data.
    pub synthetic: bool,
    /// The input, as given.
    pub source: String,
    /// SHA-256 over the input's entries (name, size and CRC-32 or modification time).
    pub fingerprint: String,
    /// The options that chose the split.
    pub settings: SplitSettings,
    /// The images of the split, by split, class and name.
    pub files: Vec<ManifestFile>,
    /// The entries left out, with the reason.
    pub skipped: Vec<SkippedEntry>,
}

/// The options that decide which image goes where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitSettings {
    /// Training images (both classes together); with `all`, whatever validation leaves.
    pub train: usize,
    /// Validation images.
    pub validation: usize,
    /// Test images (none with `all`).
    pub test: usize,
    /// The seed of the shuffle.
    pub seed: u64,
    /// Whether every image goes to train or validation.
    pub all: bool,
}

impl std::fmt::Display for SplitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.all {
            write!(
                f,
                "--all --validation {} --seed {}",
                self.validation, self.seed
            )
        } else {
            write!(
                f,
                "--train {} --validation {} --test {} --seed {}",
                self.train, self.validation, self.test, self.seed
            )
        }
    }
}

/// One image of the split.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// Path inside the output folder, e.g. `train/cats/cat.1.jpg`.
    pub file: String,
    /// Class folder: `cats` or `dogs`.
    pub class: String,
    /// `train`, `validation` or `test`.
    pub split: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// The entry of the input it came from, e.g. `train/cat.1.jpg`.
    pub entry: String,
}

/// An entry of the input that is not in the split.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedEntry {
    /// The entry's name in the input.
    pub entry: String,
    /// Bytes.
    pub size: u64,
    /// Why it was left out.
    pub reason: String,
}

impl Manifest {
    /// Reads `<out>/manifest.json`; `None` if there is none.
    pub fn read(out: &Path) -> Result<Option<Manifest>> {
        Manifest::read_from(&out.join(MANIFEST_FILE))
    }

    /// Reads a manifest from `path`; `None` if there is none.
    pub(crate) fn read_from(path: &Path) -> Result<Option<Manifest>> {
        let path = path.to_path_buf();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::read(&path, e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::invalid(
                &path,
                format!("is not a split manifest ({e}): delete it and split again with --force"),
            )
        })
    }

    /// Writes `<out>/manifest.json` atomically.
    pub fn write(&self, out: &Path) -> Result<()> {
        self.write_to(&out.join(MANIFEST_FILE))
    }

    /// Writes the manifest to `path` atomically.
    pub(crate) fn write_to(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        write_atomic(path, &json)
    }
}
