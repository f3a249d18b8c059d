//! The tutorial's split of Kaggle's `train.zip` (25,000 `cat.N.jpg` and `dog.N.jpg`) into
//! `train/`, `validation/` and `test/` folders of `cats/` and `dogs/`: 16,000, 4,500 and 4,500
//! images by default, half of each class in each.
//!
//! - The zip is read directly (or an extracted folder, whose files are hard-linked, or copied
//!   across file systems): each image is written once, straight to its place.
//! - Every image is decoded once to check it; unreadable and non-image entries, entries not
//!   named `cat.*`/`dog.*`, duplicates, and zip entries whose path would leave the output folder
//!   are left out and listed with the reason in the manifest. They never stop the run.
//! - The split is deterministic: per class, images are sorted by number, shuffled with the seed,
//!   and dealt to train, validation and test in that order.
//! - A re-run on the same input with the same options does nothing. A changed input, or other
//!   options, is reported and refused unless `force` is set, which replaces the split folders.
//! - With `all`, every image goes to train or validation (validation keeps its size), for the
//!   tutorial's "retrain with the additional 9,000 images".
//! - The manifest is written last, atomically; a split without one was interrupted.

use std::collections::btree_map::Entry as Slot;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zip::ZipArchive;

use super::decode::decode_rgb;
use super::error::DataError;
use super::image_cache::hex;
use super::listing::is_image_name;
use super::manifest::{Manifest, ManifestFile, SkippedEntry, SplitSettings};
use super::rng::Rng;
use crate::progress::Progress;

/// The class folders, in label order.
pub const CLASSES: [&str; 2] = ["cats", "dogs"];
/// The split folders.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];
/// The name of the note that marks the synthetic sample.
pub const SYNTHETIC_NOTE: &str = "SYNTHETIC.txt";
const MANIFEST_FORMAT: &str = "catsdogs split manifest 1";

/// How to split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    /// Training images, both classes together (default 16,000).
    pub train: usize,
    /// Validation images (default 4,500).
    pub validation: usize,
    /// Test images (default 4,500).
    pub test: usize,
    /// The seed of the shuffle (default 0).
    pub seed: u64,
    /// Every image goes to train or validation: the validation size is kept, train takes the
    /// rest, and there is no test folder.
    pub all: bool,
    /// Replace an existing split made from another input or with other options.
    pub force: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            train: 16_000,
            validation: 4_500,
            test: 4_500,
            seed: 0,
            all: false,
            force: false,
        }
    }
}

impl SplitOptions {
    /// The tutorial's options with other sizes, e.g. `SplitOptions::sizes(400, 100, 100)` for
    /// the 600 images of the built-in sample.
    pub fn sizes(train: usize, validation: usize, test: usize) -> Self {
        SplitOptions {
            train,
            validation,
            test,
            ..SplitOptions::default()
        }
    }

    fn settings(&self) -> SplitSettings {
        SplitSettings {
            train: if self.all { 0 } else { self.train },
            validation: self.validation,
            test: if self.all { 0 } else { self.test },
            seed: self.seed,
            all: self.all,
        }
    }
}

/// What a split did.
#[derive(Clone, Debug)]
pub struct SplitReport {
    /// The output folder.
    pub out: PathBuf,
    /// True when the output already held this split and nothing was written.
    pub unchanged: bool,
    /// The manifest (also at `<out>/manifest.json`).
    pub manifest: Manifest,
}

impl SplitReport {
    /// The number of images of `class` in `split`.
    pub fn count(&self, split: &str, class: &str) -> usize {
        self.manifest
            .files
            .iter()
            .filter(|f| f.split == split && f.class == class)
            .count()
    }
}

impl fmt::Display for SplitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unchanged {
            writeln!(
                f,
                "{} already holds this split of {} (its manifest matches): nothing to do.",
                self.out.display(),
                self.manifest.source
            )?;
        }
        for split in SPLITS {
            let counts: Vec<String> = CLASSES
                .iter()
                .map(|class| format!("{} {class}", self.count(split, class)))
                .collect();
            writeln!(f, "{split}: {}", counts.join(", "))?;
        }
        if !self.manifest.skipped.is_empty() {
            writeln!(
                f,
                "{} entries left out (reasons in {}):",
                self.manifest.skipped.len(),
                self.out.join(super::manifest::MANIFEST_FILE).display()
            )?;
            for skipped in self.manifest.skipped.iter().take(5) {
                writeln!(f, "  {}: {}", skipped.entry, skipped.reason)?;
            }
        }
        if self.manifest.synthetic {
            writeln!(f, "This is the synthetic sample, not Kaggle's photos.")?;
        }
        Ok(())
    }
}

/// An entry of the input.
struct Entry {
    name: String,
    size: u64,
    /// CRC-32 for a zip entry, modification time for a file.
    stamp: String,
    /// Index in the zip, or the file's path.
    location: Location,
    /// False for a zip entry whose path would leave the output folder.
    enclosed: bool,
}

enum Location {
    Zip(usize),
    File(PathBuf),
}

/// The input: a zip archive (memory-mapped) or a folder.
enum Source<'a> {
    Zip(ZipArchive<Cursor<&'a [u8]>>),
    Folder,
}

/// A zip reader of one worker thread, cloned from the source's on first use.
type Reader<'a> = Option<ZipArchive<Cursor<&'a [u8]>>>;

impl<'a> Source<'a> {
    fn read(&self, archive: &mut Reader<'a>, entry: &Entry) -> std::io::Result<Vec<u8>> {
        match (&entry.location, self) {
            (Location::Zip(index), Source::Zip(zip)) => {
                let archive = archive.get_or_insert_with(|| zip.clone());
                let mut file = archive.by_index(*index).map_err(std::io::Error::other)?;
                let mut bytes = Vec::with_capacity(file.size() as usize);
                file.read_to_end(&mut bytes)?;
                Ok(bytes)
            }
            (Location::File(path), _) => std::fs::read(path),
            (Location::Zip(_), Source::Folder) => unreachable!("zip entries come from a zip"),
        }
    }
}

/// Splits `source` (Kaggle's `train.zip` or the folder it unpacks to) into
/// `<out>/{train,validation,test}/{cats,dogs}/` plus `<out>/manifest.json`; see the module's
/// notes.
///
/// ```no_run
/// use catsdogs::data::{split, SplitOptions};
/// let report = split("train.zip".as_ref(), "data".as_ref(), &SplitOptions::default())?;
/// print!("{report}");
/// # Ok::<(), catsdogs::data::DataError>(())
/// ```
pub fn split(source: &Path, out: &Path, options: &SplitOptions) -> Result<SplitReport, DataError> {
    let settings = options.settings();
    if !options.all && settings.train + settings.validation + settings.test == 0 {
        return Err(DataError::Options(
            "the split sizes are all 0: give at least one image to train, validation or test"
                .into(),
        ));
    }
    let zip_bytes;
    let (source_kind, entries, comment) = if source.is_dir() {
        (Source::Folder, list_folder(source, out)?, String::new())
    } else {
        let file = std::fs::File::open(source).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DataError::Missing {
                path: source.display().to_string(),
                hint: "give Kaggle's train.zip or the folder it unpacks to (or make a sample with `catsdogs sample`)",
            },
            _ => DataError::read(source, e),
        })?;
        // SAFETY: the zip is only read; the split does not modify its input.
        zip_bytes = unsafe { Mmap::map(&file) }.map_err(|e| DataError::read(source, e))?;
        let archive = ZipArchive::new(Cursor::new(&zip_bytes[..])).map_err(|e| {
            DataError::invalid(source, format!("is neither a folder nor a readable zip archive ({e}): give Kaggle's train.zip or its extracted folder"))
        })?;
        let comment = String::from_utf8_lossy(archive.comment()).into_owned();
        let entries = list_zip(&archive);
        (Source::Zip(archive), entries, comment)
    };
    let fingerprint = fingerprint(&entries);

    if let Some(previous) = Manifest::read(out)? {
        let same_input = previous.fingerprint == fingerprint;
        let same_settings = previous.settings == settings;
        if same_input && same_settings && files_present(out, &previous) {
            return Ok(SplitReport {
                out: out.to_path_buf(),
                unchanged: true,
                manifest: previous,
            });
        }
        if !options.force && !same_input {
            return Err(DataError::invalid(
                out,
                format!(
                    "was split from another input than {} ({}): pass --force (SplitOptions::force) to replace the split, or choose another output folder",
                    source.display(),
                    describe_change(&previous, &entries)
                ),
            ));
        }
        if !options.force && !same_settings {
            return Err(DataError::invalid(
                out,
                format!(
                    "was split with other options ({}, now {}): pass --force (SplitOptions::force) to replace the split, or choose another output folder",
                    previous.settings, settings
                ),
            ));
        }
    } else if !options.force {
        if let Some(existing) = SPLITS.iter().map(|s| out.join(s)).find(|p| p.exists()) {
            return Err(DataError::invalid(
                &existing,
                "exists but there is no manifest.json beside it (an interrupted split?): pass --force (SplitOptions::force) to replace it, or choose another output folder",
            ));
        }
    }

    // Sort the entries out: notes, refused paths, other names, duplicates, candidates.
    let mut skipped = Vec::new();
    let mut synthetic = comment.contains("SYNTHETIC");
    let mut candidates: Vec<(usize, &Entry)> = Vec::new();
    let mut seen = BTreeMap::new();
    for entry in &entries {
        let base = basename(&entry.name);
        let skip = |reason: String| SkippedEntry {
            entry: entry.name.clone(),
            size: entry.size,
            reason,
        };
        if base == SYNTHETIC_NOTE {
            synthetic = true;
        } else if !entry.enclosed {
            skipped.push(skip(
                "refused: its path would leave the output folder".into(),
            ));
        } else if let Some(class) = class_of(base).filter(|_| is_image_name(base)) {
            match seen.entry(base.to_lowercase()) {
                Slot::Occupied(first) => {
                    skipped.push(skip(format!("duplicate of {}", first.get())));
                }
                Slot::Vacant(slot) => {
                    slot.insert(entry.name.clone());
                    candidates.push((class, entry));
                }
            }
        } else {
            skipped.push(skip(
                "not an image named cat.N or dog.N with a png, jpg, jpeg, bmp, ppm, tif or tiff extension".into(),
            ));
        }
    }

    // Check every candidate: read, hash, decode.
    println!(
        "Checking {} images of {}",
        candidates.len(),
        source.display()
    );
    let progress = Progress::new(candidates.len() as u64, "");
    let done = AtomicU64::new(0);
    let checked: Vec<Result<(u64, String), String>> = candidates
        .par_iter()
        .map_init(
            || None,
            |archive, (_, entry)| {
                let result = source_kind
                    .read(archive, entry)
                    .map_err(|e| format!("unreadable: {e}"))
                    .and_then(|bytes| {
                        decode_rgb(&bytes, Path::new(&entry.name)).map_err(|e| e.to_string())?;
                        Ok((bytes.len() as u64, hex(&Sha256::digest(&bytes))))
                    });
                progress.set(done.fetch_add(1, Ordering::Relaxed) + 1, "");
                result
            },
        )
        .collect();
    progress.finish("checked");

    // Per class: valid images sorted by number, shuffled, dealt out.
    let mut files = Vec::new();
    let mut plan = Vec::new();
    for (class_index, class) in CLASSES.iter().enumerate() {
        let mut valid: Vec<(&Entry, u64, String)> = Vec::new();
        for ((c, entry), result) in candidates.iter().zip(&checked) {
            if *c != class_index {
                continue;
            }
            match result {
                Ok((size, sha)) => valid.push((entry, *size, sha.clone())),
                Err(reason) => skipped.push(SkippedEntry {
                    entry: entry.name.clone(),
                    size: entry.size,
                    reason: reason.clone(),
                }),
            }
        }
        valid.sort_by(|a, b| sort_key(&a.0.name).cmp(&sort_key(&b.0.name)));
        Rng::new(options.seed, class_index as u64).shuffle(&mut valid);
        let quota =
            |total: usize| total / CLASSES.len() + usize::from(class_index < total % CLASSES.len());
        let validation = quota(settings.validation);
        let (train, test) = if options.all {
            (valid.len().saturating_sub(validation), 0)
        } else {
            (quota(settings.train), quota(settings.test))
        };
        if train + validation + test > valid.len() {
            let have = valid.len();
            return Err(DataError::invalid(
                source,
                format!(
                    "has {have} readable {class} images, but the split asks for {train} + {validation} + {test} of each class: pass smaller sizes, such as --train {} --validation {} --test {}",
                    2 * (have * 2 / 3),
                    2 * (have / 6),
                    2 * (have / 6)
                ),
            ));
        }
        let deals = [
            (SPLITS[0], train),
            (SPLITS[1], validation),
            (SPLITS[2], test),
        ];
        let mut rest = valid.into_iter();
        for (split, n) in deals {
            for (entry, size, sha256) in rest.by_ref().take(n) {
                let file = format!("{split}/{class}/{}", basename(&entry.name));
                plan.push((entry, out.join(&file)));
                files.push(ManifestFile {
                    file,
                    class: class.to_string(),
                    split: split.to_string(),
                    size,
                    sha256,
                    entry: entry.name.clone(),
                });
            }
        }
        for (entry, _, _) in rest {
            skipped.push(SkippedEntry {
                entry: entry.name.clone(),
                size: entry.size,
                reason: "not needed: the split sizes leave it out".into(),
            });
        }
    }

    // Write: replace the old split when forced, then each image once, in parallel.
    if options.force {
        for split in SPLITS {
            let path = out.join(split);
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(|e| DataError::write(&path, e))?;
            }
        }
    }
    // Only the folders that get images: an empty `test/` (with `all`, or a size of 0) would
    // read as a broken split to `flow_from_directory`.
    let folders: std::collections::BTreeSet<&Path> =
        plan.iter().filter_map(|(_, dest)| dest.parent()).collect();
    for dir in folders {
        std::fs::create_dir_all(dir).map_err(|e| DataError::write(dir, e))?;
    }
    plan.par_iter()
        .map_init(
            || None,
            |archive, (entry, dest)| place(&source_kind, archive, entry, dest),
        )
        .collect::<Result<(), DataError>>()?;
    if synthetic {
        crate::fsutil::write_atomic(
            &out.join(SYNTHETIC_NOTE),
            super::sample::SYNTHETIC_TEXT.as_bytes(),
        )?;
    }
    files.sort_by(|a, b| {
        let rank = |f: &ManifestFile| SPLITS.iter().position(|s| *s == f.split);
        (rank(a), &a.class, sort_key(&a.file)).cmp(&(rank(b), &b.class, sort_key(&b.file)))
    });
    skipped.sort_by(|a, b| sort_key(&a.entry).cmp(&sort_key(&b.entry)));
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        synthetic,
        source: source.display().to_string(),
        fingerprint,
        settings,
        files,
        skipped,
    };
    manifest.write(out)?;
    Ok(SplitReport {
        out: out.to_path_buf(),
        unchanged: false,
        manifest,
    })
}

/// Puts one image at `dest`: from a zip, written once (temporary file + rename, so a crash
/// never leaves half a file; the manifest, written last with a sync, seals the split); from a
/// folder, hard-linked, or copied when the link fails (another file system).
fn place<'a>(
    source: &Source<'a>,
    archive: &mut Reader<'a>,
    entry: &Entry,
    dest: &Path,
) -> Result<(), DataError> {
    if dest.exists() {
        std::fs::remove_file(dest).map_err(|e| DataError::write(dest, e))?;
    }
    match &entry.location {
        Location::File(path) => std::fs::hard_link(path, dest)
            .or_else(|_| std::fs::copy(path, dest).map(|_| ()))
            .map_err(|e| DataError::write(dest, e)),
        Location::Zip(_) => {
            let bytes = source
                .read(archive, entry)
                .map_err(|e| DataError::read(Path::new(&entry.name), e))?;
            let tmp = dest.with_extension("part");
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, dest))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    DataError::write(dest, e)
                })
        }
    }
}

/// The entries of a zip, directories left out.
fn list_zip(archive: &ZipArchive<Cursor<&[u8]>>) -> Vec<Entry> {
    let mut archive = archive.clone();
    (0..archive.len())
        .filter_map(|index| {
            let file = archive.by_index_raw(index).ok()?;
            (!file.is_dir()).then(|| Entry {
                name: file.name().to_string(),
                size: file.size(),
                stamp: format!("{:08x}", file.crc32()),
                location: Location::Zip(index),
                enclosed: file.enclosed_name().is_some(),
            })
        })
        .collect()
}

/// The files of a folder, recursively; hidden folders, links to folders and `out` left out.
fn list_folder(root: &Path, out: &Path) -> Result<Vec<Entry>, DataError> {
    let out = out.canonicalize().ok();
    let mut entries = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        if out.is_some() && dir.canonicalize().ok() == out {
            continue;
        }
        for item in std::fs::read_dir(&dir).map_err(|e| DataError::read(&dir, e))? {
            let item = item.map_err(|e| DataError::read(&dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let path = item.path();
            let meta = std::fs::metadata(&path).map_err(|e| DataError::read(&path, e))?;
            if meta.is_dir() {
                // Hidden folders and links to folders (which could loop) are not entered.
                let is_link = item.file_type().is_ok_and(|t| t.is_symlink());
                if !name.starts_with('.') && !is_link {
                    stack.push((path, format!("{prefix}{name}/")));
                }
                continue;
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            entries.push(Entry {
                name: format!("{prefix}{name}"),
                size: meta.len(),
                stamp: modified.to_string(),
                location: Location::File(path),
                enclosed: true,
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// SHA-256 over the sorted entries' names, sizes and stamps.
fn fingerprint(entries: &[Entry]) -> String {
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| format!("{}\t{}\t{}\n", e.name, e.size, e.stamp))
        .collect();
    lines.sort();
    hex(&Sha256::digest(lines.concat()))
}

/// "3 entries added, 1 removed, 2 changed in size" between a manifest and the current input.
fn describe_change(previous: &Manifest, entries: &[Entry]) -> String {
    let before: BTreeMap<&str, u64> = previous
        .files
        .iter()
        .map(|f| (f.entry.as_str(), f.size))
        .chain(previous.skipped.iter().map(|s| (s.entry.as_str(), s.size)))
        .collect();
    let now: BTreeMap<&str, u64> = entries
        .iter()
        .filter(|e| basename(&e.name) != SYNTHETIC_NOTE)
        .map(|e| (e.name.as_str(), e.size))
        .collect();
    let added = now.keys().filter(|k| !before.contains_key(*k)).count();
    let removed = before.keys().filter(|k| !now.contains_key(*k)).count();
    let resized = now
        .iter()
        .filter(|(k, size)| before.get(*k).is_some_and(|b| b != *size))
        .count();
    if added + removed + resized == 0 {
        "same names and sizes, other content or dates".into()
    } else {
        format!("{added} entries added, {removed} removed, {resized} changed in size")
    }
}

/// Whether every file of the manifest is in place with its size.
fn files_present(out: &Path, manifest: &Manifest) -> bool {
    manifest
        .files
        .iter()
        .all(|f| std::fs::metadata(out.join(&f.file)).is_ok_and(|m| m.len() == f.size))
}

/// The file name of an entry path (either separator).
fn basename(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// `cat.N...` and `dog.N...` (any case): the class index.
fn class_of(base: &str) -> Option<usize> {
    let lower = base.to_lowercase();
    if lower.starts_with("cat.") {
        Some(0)
    } else if lower.starts_with("dog.") {
        Some(1)
    } else {
        None
    }
}

/// Sorts `cat.2.jpg` before `cat.10.jpg`: by folder, then the number after the class, then name.
fn sort_key(name: &str) -> (&str, u64, &str) {
    let base = basename(name);
    let folder = &name[..name.len() - base.len()];
    let number = base
        .split('.')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    (folder, number, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_number() {
        let mut names = vec![
            "train/cat.10.jpg",
            "train/cat.2.jpg",
            "train/cat.x.jpg",
            "a/cat.99.jpg",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            [
                "a/cat.99.jpg",
                "train/cat.2.jpg",
                "train/cat.10.jpg",
                "train/cat.x.jpg"
            ]
        );
    }

    #[test]
    fn classes_come_from_the_name() {
        assert_eq!(class_of("cat.1.jpg"), Some(0));
        assert_eq!(class_of("Dog.7.JPG"), Some(1));
        assert_eq!(class_of("catalog.jpg"), None);
        assert_eq!(basename("train\\dog.1.jpg"), "dog.1.jpg");
    }

    #[test]
    fn all_drops_test_and_train_sizes() {
        let options = SplitOptions {
            all: true,
            ..SplitOptions::default()
        };
        let s = options.settings();
        assert_eq!((s.train, s.validation, s.test), (0, 4500, 0));
    }
}
