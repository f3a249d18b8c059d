//! Files at the bottom of every layer: one atomic write for everything any command writes, a lock
//! for folders that one process at a time may use, and the free space of a disk.
//!
//! - [`AtomicFile`] writes into a temporary file beside its target (a unique name, so two threads
//!   writing the same target never collide), flushes it to disk, renames it over the target and
//!   flushes the folder. An interrupted or failed write leaves the old file as it was and no
//!   temporary file behind (the temporary file is removed when the write fails, is dropped, or
//!   panics). [`write_atomic`] is the one-call form.
//! - [`AppendFile`] is the one exception, for logs that readers follow while they grow
//!   (TensorBoard's event files): a new file that is only ever appended to.
//! - [`FolderLock`] holds an exclusive lock on a folder while a run writes into it.
//! - [`available_space`] asks the file system how much room is left.
//!
//! Errors name the file ([`Error::Io`], [`Error::Exists`], [`Error::Locked`]).
//!
//! ```
//! use std::io::{Seek, Write};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("a/b.txt");
//! catsdogs::fsutil::write_atomic(&path, b"hello").unwrap();
//! let mut file = catsdogs::fsutil::AtomicFile::create(&path).unwrap();
//! file.write_all(b"half").unwrap();
//! drop(file); // not committed: the old content stays, and no temporary file is left
//! assert_eq!(std::fs::read(&path).unwrap(), b"hello");
//! assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
//! ```

use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folder a path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A file being written atomically; see the module's notes. It writes like a [`File`]; nothing
/// is visible at the target until [`AtomicFile::commit`].
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path`: a temporary file in its folder, which is created if needed.
    pub fn create(path: &Path) -> Result<Self> {
        let dir = folder_of(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io("cannot write", path, e))?;
        Ok(AtomicFile {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// The file that will become the target.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open temporary file, for writers that need a [`File`] (seek, set_len).
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// An error that names the target: for a failure of a write into this file.
    pub fn error(&self, reason: std::io::Error) -> Error {
        Error::io("cannot write", &self.path, reason)
    }

    /// Flushes the content to disk and renames it over the target.
    pub fn commit(self) -> Result<()> {
        self.finish(true)
    }

    /// As [`commit`](Self::commit), but refuses to replace a file that appeared at the target.
    pub fn commit_new(self) -> Result<()> {
        self.finish(false)
    }

    fn finish(self, replace: bool) -> Result<()> {
        let AtomicFile { temp, path } = self;
        temp.as_file()
            .sync_all()
            .map_err(|e| Error::io("cannot write", &path, e))?;
        let persisted = if replace {
            temp.persist(&path)
        } else {
            temp.persist_noclobber(&path)
        };
        persisted.map_err(|e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Exists {
                path: path.display().to_string(),
                hint: "it was not written by this run, so it is left alone; move it away",
            },
            _ => Error::io("cannot write", &path, e.error),
        })?;
        sync_folder(folder_of(&path))
    }
}

/// Writes go to the temporary file itself (its errors are the operating system's, without the
/// temporary path, which [`AtomicFile::error`] replaces with the target's).
impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, position: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file().seek(position)
    }
}

/// Flushes a folder's entries (a rename into it) to disk.
pub fn sync_folder(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot flush the folder", dir, e))
}

/// Writes `bytes` to `path` atomically (see the module's notes), creating the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| file.error(e))?;
    file.commit()
}

/// An exclusive lock on a folder, held until dropped: a second process that asks for the same
/// folder is refused with [`Error::Locked`]. The lock is the file `.lock` inside the folder,
/// which stays; the operating system releases the lock when the process ends, however it ends.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Locks `dir` (created if needed), or says that another process holds it.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let lock = catsdogs::fsutil::FolderLock::acquire(dir.path()).unwrap();
    /// drop(lock);
    /// ```
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        let path = dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(FolderLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
                path: dir.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
        }
    }
}

/// A log that only grows, such as TensorBoard's event files, which readers follow while it is
/// written: a new file (never one that exists), each [`append`](AppendFile::append) written
/// whole and flushed to disk before it returns. A reader sees complete records, or a last one
/// cut short that the record's own checksum tells apart; nothing written before is ever
/// changed.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("logs/events");
/// let mut log = catsdogs::fsutil::AppendFile::create_new(&path).unwrap();
/// log.append(b"one").unwrap();
/// log.append(b"two").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"onetwo");
/// assert!(catsdogs::fsutil::AppendFile::create_new(&path).is_err());
/// ```
#[derive(Debug)]
pub struct AppendFile {
    file: File,
    path: PathBuf,
}

impl AppendFile {
    /// Creates `path` (and its folder), refusing a file that exists with [`Error::Exists`].
    pub fn create_new(path: &Path) -> Result<Self> {
        let dir = folder_of(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        let file = File::options()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::Exists {
                    path: path.display().to_string(),
                    hint: "a log is only ever written into a new file; give another name",
                },
                _ => Error::io("cannot create", path, e),
            })?;
        sync_folder(dir)?;
        Ok(AppendFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` at the end of the file and flushes them to disk.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io("cannot write", &self.path, e))
    }
}

/// Bytes free for this user on the file system that holds `path` (or its nearest existing
/// folder); `None` when the file system does not say.
pub fn available_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    fs4::available_space(existing).ok()
}

/// A file's modification time in nanoseconds since 1970 (0 when the system does not say): the
/// stamp that tells a changed file from an unchanged one without reading it.
pub fn modified_nanos(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        let second = FolderLock::acquire(dir.path()).unwrap_err();
        assert!(second.to_string().contains("in use by another"), "{second}");
        drop(first);
        FolderLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn commit_new_leaves_an_existing_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"theirs").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"ours").unwrap();
        let err = file.commit_new().unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn two_threads_writing_one_target_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.bin");
        std::thread::scope(|s| {
            for byte in [1u8, 2] {
                let path = &path;
                s.spawn(move || write_atomic(path, &[byte; 100_000]).unwrap());
            }
        });
        let content = std::fs::read(&path).unwrap();
        assert!(content == [1; 100_000] || content == [2; 100_000]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
