//! The feature files on disk: which files are ours, when each was last used, and the disk budget
//! that removes the ones used longest ago.
//!
//! A feature file is named `features-<key>.bin` (the key: 64 hex digits) and is a
//! [`crate::cache_file`] whose magic starts with `CDFEAT`. Only such files are listed or removed;
//! nothing else in a folder is touched. A file's last use is its modification time, which every
//! use sets ([`crate::fsutil::mark_used`]).
//!
//! The budget holds for one cache folder: the `.catsdogs-cache` folder beside a split (the
//! sub-folders of its data folders together), or the folder given as `CacheOptions::dir`.
//! Before a new file is written there, the files used longest ago are removed until the new one
//! fits the budget and the disk (with 1 GiB to spare); the files this process has open stay.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::store::{Header, FORMAT};
use crate::cache_file::peek;
use crate::error::{Error, Result};
use crate::fsutil::available_space;

/// The default disk budget of a cache folder: 16 GiB, which holds the features of both of the
/// tutorial's experiments on Kaggle's 20,500 training and validation images in float32
/// (10.3 GB) with those of another precision (5.1 GB in bfloat16) beside them. A fixed size
/// rather than a share of the free space, so that what is kept does not change with what other
/// programs write; the free space is checked as well.
pub const DEFAULT_DISK_BUDGET: u64 = 16 << 30;

/// The free space a new feature file leaves on its disk, at least.
const DISK_MARGIN: u64 = 1 << 30;

/// How deep [`feature_files`] looks below the folder it is given: deep enough for
/// `data/split/.catsdogs-cache/train/` from the repository's root.
const SEARCH_DEPTH: usize = 6;

/// The name of the caches' folder beside a split (see `data::default_cache_dir`).
const CACHE_FOLDER: &str = ".catsdogs-cache";

/// One feature file on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureFile {
    /// The file.
    pub path: PathBuf,
    /// The key in its name.
    pub key: String,
    /// The last cached layer (e.g. `block5_pool`); `None` for a file of an older version of
    /// the cache, which nothing reads any more.
    pub layer: Option<String>,
    /// The number of images; `None` for a file of an older version.
    pub images: Option<usize>,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last used.
    pub last_used: SystemTime,
}

/// The file of the features with `key` in the cache folder `dir`.
pub(super) fn file_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("features-{key}.bin"))
}

/// The key in a feature file's name, if `name` is one.
fn key_of(name: &str) -> Option<&str> {
    let key = name.strip_prefix("features-")?.strip_suffix(".bin")?;
    let hex = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then_some(key)
}

/// The feature file at `path`, if it is one of ours: our naming and a feature file's magic.
fn read(path: &Path) -> Option<FeatureFile> {
    let key = key_of(path.file_name()?.to_str()?)?;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let peeked = peek::<Header>(path)?;
    if !peeked.magic.starts_with(b"CDFEAT") {
        return None;
    }
    let current = peeked
        .header
        .filter(|h| h.format == FORMAT && h.meta.key == key);
    Some(FeatureFile {
        path: path.to_path_buf(),
        key: key.to_string(),
        layer: current.as_ref().map(|h| h.meta.layer.clone()),
        images: current.as_ref().map(|h| h.meta.count),
        bytes: meta.len(),
        last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

/// Our feature files in `dir` and the folders below it, `depth` levels down at most (hidden
/// folders skipped, except the caches' own; links not followed).
fn files_below(dir: &Path, depth: usize, found: &mut Vec<FeatureFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_file() {
            found.extend(read(&path));
        } else if kind.is_dir() && depth > 0 {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with('.') || name == CACHE_FOLDER {
                files_below(&path, depth - 1, found);
            }
        }
    }
}

/// Our feature files in `dir` and below it (a split, a cache folder, or a folder above them
/// such as the repository's root, down to six levels), the one used longest ago first.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("features-notes.bin"), b"not ours").unwrap();
/// assert!(catsdogs::features::feature_files(dir.path()).is_empty());
/// ```
pub fn feature_files(dir: &Path) -> Vec<FeatureFile> {
    let mut found = Vec::new();
    files_below(dir, SEARCH_DEPTH, &mut found);
    sort_oldest_first(&mut found);
    found
}

fn sort_oldest_first(files: &mut [FeatureFile]) {
    files.sort_by(|a, b| (a.last_used, &a.path).cmp(&(b.last_used, &b.path)));
}

/// The cache folder whose budget a feature file written into `dir` counts against: the
/// `.catsdogs-cache` folder that `dir` is or is directly in, else `dir` itself.
pub fn cache_folder(dir: &Path) -> PathBuf {
    let named = |p: &Path| p.file_name().is_some_and(|n| n == CACHE_FOLDER);
    match dir.parent() {
        _ if named(dir) => dir.to_path_buf(),
        Some(parent) if named(parent) => parent.to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// The feature files of the cache folder of `dir`, the one used longest ago first.
pub fn files_of_cache_folder(dir: &Path) -> Vec<FeatureFile> {
    let mut found = Vec::new();
    files_below(&cache_folder(dir), 1, &mut found);
    sort_oldest_first(&mut found);
    found
}

/// Removes a feature file, after checking again that it is one of ours.
pub fn remove(file: &FeatureFile) -> Result<()> {
    if read(&file.path).is_none() {
        return Err(Error::invalid(
            &file.path,
            "is not a feature file of this cache (any more), so it is left alone",
        ));
    }
    std::fs::remove_file(&file.path).map_err(|e| Error::io("cannot remove", &file.path, e))
}

/// Why a new feature file does not go to disk.
#[derive(Debug, PartialEq)]
pub(super) enum NoRoom {
    /// It alone is larger than the budget.
    OverBudget(u64),
    /// The disk lacks room even with every other feature file of the folder gone.
    DiskFull(u64),
    /// The folder cannot be made.
    NoFolder,
}

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::console::human_bytes;
        match self {
            NoRoom::OverBudget(budget) => write!(
                f,
                "they exceed the disk budget of {} (raise it with --cache-disk, or \
                 FitOptions::cache_disk)",
                crate::console::human_gib(*budget)
            ),
            NoRoom::DiskFull(free) => {
                write!(f, "the disk has only {} free", human_bytes(*free))
            }
            NoRoom::NoFolder => write!(f, "the folder cannot be created"),
        }
    }
}

/// Makes room for a new feature file of `bytes` in `dir`: removes the feature files of its cache
/// folder used longest ago, except those with a key in `keep`, until the new one fits `budget`
/// and the disk. Nothing is removed for a file that could never fit. Returns the files removed.
pub(super) fn make_room(
    dir: &Path,
    bytes: u64,
    budget: u64,
    keep: &[String],
) -> std::result::Result<Vec<FeatureFile>, NoRoom> {
    if bytes > budget {
        return Err(NoRoom::OverBudget(budget));
    }
    if std::fs::create_dir_all(dir).is_err() {
        return Err(NoRoom::NoFolder);
    }
    let free = || available_space(dir).unwrap_or(u64::MAX);
    let files = files_of_cache_folder(dir);
    let mut used: u64 = files.iter().map(|f| f.bytes).sum();
    let removable: u64 = files
        .iter()
        .filter(|f| !keep.contains(&f.key))
        .map(|f| f.bytes)
        .sum();
    let needed = bytes.saturating_add(DISK_MARGIN);
    if free().saturating_add(removable) < needed {
        return Err(NoRoom::DiskFull(free()));
    }
    let mut removed = Vec::new();
    for file in files.iter().filter(|f| !keep.contains(&f.key)) {
        if used + bytes <= budget && free() >= needed {
            break;
        }
        if remove(file).is_ok() {
            used -= file.bytes;
            removed.push(file.clone());
        }
    }
    if used + bytes > budget {
        return Err(NoRoom::OverBudget(budget));
    }
    if free() < needed {
        return Err(NoRoom::DiskFull(free()));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_are_feature_files() {
        let key = "ab".repeat(32);
        assert_eq!(key_of(&format!("features-{key}.bin")), Some(key.as_str()));
        assert_eq!(key_of(&format!("features-{key}.bin.tmp")), None);
        assert_eq!(key_of("features-abc.bin"), None);
        assert_eq!(key_of(&format!("images-{key}.u8")), None);
    }

    #[test]
    fn the_cache_folder_is_the_splits_caches_or_the_folder_given() {
        let split = Path::new("data/split/.catsdogs-cache");
        assert_eq!(cache_folder(&split.join("train")), split);
        assert_eq!(cache_folder(split), split);
        assert_eq!(cache_folder(Path::new("mine")), Path::new("mine"));
    }
}
