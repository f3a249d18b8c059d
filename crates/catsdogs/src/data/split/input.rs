//! The split's input: Kaggle's `train.zip`, memory-mapped and read in place, or the folder it
//! unpacks to; its entries, and a fingerprint that tells a changed input from the same one.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use zip::ZipArchive;

use super::super::decode::{read_bounded, read_image_file};
use crate::error::{Error, Result};
use crate::fsutil::modified_nanos;
use crate::hashing::sha256_hex;

/// An entry of the input.
pub(super) struct Entry {
    /// Its path inside the zip or the folder, with `/` between folders.
    pub(super) name: String,
    pub(super) size: u64,
    /// CRC-32 for a zip entry, modification time for a file.
    stamp: String,
    location: Location,
    /// False for a zip entry whose path would leave the output folder.
    pub(super) enclosed: bool,
}

/// Where an entry's bytes are.
pub(super) enum Location {
    /// Its index in the zip.
    Zip(usize),
    /// A file of the folder.
    File(PathBuf),
}

/// The zip's bytes, shared by the worker threads' readers.
#[derive(Clone)]
pub(super) struct Bytes(Arc<Mmap>);

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A zip reader of one worker thread, cloned from the input's on first use.
pub(super) type Reader = Option<ZipArchive<Cursor<Bytes>>>;

/// The input of a split.
pub(super) struct Input {
    /// The zip, or `None` for a folder.
    archive: Option<ZipArchive<Cursor<Bytes>>>,
    /// The entries, sorted by name for a folder, in the zip's order for a zip.
    pub(super) entries: Vec<Entry>,
    /// The zip's comment (empty for a folder).
    pub(super) comment: String,
}

impl Input {
    /// Opens `source`, a zip or a folder; a folder's listing leaves `out` out.
    pub(super) fn open(source: &Path, out: &Path) -> Result<Input> {
        if source.is_dir() {
            return Ok(Input {
                archive: None,
                entries: list_folder(source, out)?,
                comment: String::new(),
            });
        }
        if !source.exists() {
            return Err(Error::Missing {
                path: source.to_path_buf(),
                hint: "give Kaggle's train.zip or the folder it unpacks to (or make a sample with `catsdogs sample`)",
            });
        }
        let file = crate::fsutil::open_file(source)?;
        // SAFETY: the zip is only read; the split does not modify its input.
        let bytes = unsafe { Mmap::map(&file) }.map_err(|e| Error::read(source, e))?;
        let archive = ZipArchive::new(Cursor::new(Bytes(Arc::new(bytes)))).map_err(|e| {
            Error::invalid(source, format!("is neither a folder nor a readable zip archive ({e}): give Kaggle's train.zip or its extracted folder"))
        })?;
        let comment = String::from_utf8_lossy(archive.comment()).into_owned();
        let entries = list_zip(&archive);
        Ok(Input {
            archive: Some(archive),
            entries,
            comment,
        })
    }

    /// The bytes of `entry`, through this thread's `reader`; at most an image file's bound, and
    /// only from a regular file (see [`read_image_file`]).
    pub(super) fn read(&self, reader: &mut Reader, entry: &Entry) -> Result<Vec<u8>> {
        match (&entry.location, &self.archive) {
            (Location::Zip(index), Some(zip)) => {
                let archive = reader.get_or_insert_with(|| zip.clone());
                archive
                    .by_index(*index)
                    .map_err(std::io::Error::other)
                    .and_then(read_bounded)
                    .map_err(|e| Error::read(Path::new(&entry.name), e))
            }
            (Location::File(path), _) => read_image_file(path),
            (Location::Zip(_), None) => unreachable!("zip entries come from a zip"),
        }
    }

    /// The file behind a folder's entry, which the split hard-links; `None` for a zip entry.
    pub(super) fn file_of<'e>(&self, entry: &'e Entry) -> Option<&'e Path> {
        match &entry.location {
            Location::File(path) => Some(path),
            Location::Zip(_) => None,
        }
    }

    /// SHA-256 over the sorted entries' names, sizes and stamps.
    pub(super) fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|e| format!("{}\t{}\t{}\n", e.name, e.size, e.stamp))
            .collect();
        lines.sort();
        sha256_hex(lines.concat())
    }
}

/// The entries of a zip, directories left out.
fn list_zip(archive: &ZipArchive<Cursor<Bytes>>) -> Vec<Entry> {
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
fn list_folder(root: &Path, out: &Path) -> Result<Vec<Entry>> {
    let out = out.canonicalize().ok();
    let mut entries = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        if out.is_some() && dir.canonicalize().ok() == out {
            continue;
        }
        for item in std::fs::read_dir(&dir).map_err(|e| Error::read(&dir, e))? {
            let item = item.map_err(|e| Error::read(&dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let path = item.path();
            let meta = std::fs::metadata(&path).map_err(|e| Error::read(&path, e))?;
            if meta.is_dir() {
                // Hidden folders and links to folders (which could loop) are not entered.
                let is_link = item.file_type().is_ok_and(|t| t.is_symlink());
                if !name.starts_with('.') && !is_link {
                    stack.push((path, format!("{prefix}{name}/")));
                }
                continue;
            }
            entries.push(Entry {
                name: format!("{prefix}{name}"),
                size: meta.len(),
                stamp: modified_nanos(&meta).to_string(),
                location: Location::File(path),
                enclosed: true,
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}
