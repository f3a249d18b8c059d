//! Files at the bottom of every layer: one atomic write for everything any command writes, a lock
//! for folders that one process at a time may use, the guard that keeps a command's outputs off
//! its inputs, and the free space of a disk.
//!
//! - [`AtomicFile`] writes into a temporary file beside its target (`.NAME.XXXXXX.tmp`, a unique
//!   name, so two threads writing the same target never collide), flushes it to disk, renames it
//!   over the target and flushes the folder. An interrupted or failed write leaves the old file
//!   as it was and no temporary file behind (the temporary file is removed when the write fails,
//!   is dropped, or panics). [`write_atomic`] is the one-call form. [`AtomicFolder`] does the
//!   same for a folder of files (a checkpoint).
//! - A process killed during a write (`kill -9`, a power cut) cannot remove its temporary file.
//!   Each temporary file or folder is locked while its write is alive, so the next write of the
//!   same target recognises the ones left by dead writes (our naming, no lock) and removes them,
//!   and only them ([`remove_stale_temporaries`]).
//! - Outputs get the mode the user's umask gives (0644 under the usual 022), and a replaced
//!   file keeps its own mode.
//! - [`refuse_inputs_as_outputs`] refuses an output that is one of the command's inputs, by its
//!   name or through a link; [`open_file`] opens only regular files (a FIFO would block).
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

use std::fs::{File, Permissions};
use std::io::{Seek, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folder a path lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The file name of `path`, as text.
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The characters of the random part of a temporary name.
const RANDOM_LEN: usize = 6;

/// Makes the temporary file or folder of `target` with `make`: named `.NAME.XXXXXX.tmp`,
/// created with `mode` less the umask (as any new file is), or with the mode of the file it
/// will replace.
fn temporary<T>(
    target: &Path,
    mode: u32,
    make: impl FnOnce(&tempfile::Builder) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mode = std::fs::metadata(target).map_or(mode, |m| m.permissions().mode() & 0o7777);
    let prefix = format!(".{}.", name_of(target));
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(".tmp")
        .rand_bytes(RANDOM_LEN)
        .permissions(Permissions::from_mode(mode));
    make(&builder)
}

/// The target whose temporary file or folder `name` is (`.NAME.XXXXXX.tmp`, or `.NAME.XXXXXX`
/// as checkpoints were once named), if it is one of ours.
///
/// ```
/// use catsdogs::fsutil::temporary_target;
/// assert_eq!(temporary_target(".cat.1.jpg.Ab12Cd.tmp"), Some("cat.1.jpg"));
/// assert_eq!(temporary_target(".epoch-0003.x9Y8z7"), Some("epoch-0003"));
/// assert_eq!(temporary_target("cat.1.jpg"), None);
/// assert_eq!(temporary_target(".notes.tmp"), None);
/// ```
pub fn temporary_target(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let rest = rest.strip_suffix(".tmp").unwrap_or(rest);
    let (target, random) = rest.rsplit_once('.')?;
    let ours = random.len() == RANDOM_LEN && random.chars().all(|c| c.is_ascii_alphanumeric());
    (ours && !target.is_empty()).then_some(target)
}

/// Locks a live temporary file or folder (opened as `file`) so that no sweep takes it for a
/// dead write's. A file system without locks leaves it unlocked.
fn hold(file: &File) {
    let _ = file.try_lock();
}

/// Removes, in `dir`, the temporary files and folders that writes killed before they finished
/// left behind: those of our naming whose target `owned` accepts, that no live write holds.
/// Nothing else is touched, and a failure to remove one is not an error (the next sweep tries
/// again).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let stale = dir.path().join(".x.npy.a1B2c3.tmp"); // a killed write of x.npy
/// std::fs::create_dir(&stale).unwrap();
/// let theirs = dir.path().join(".x.npy.notes");
/// std::fs::create_dir(&theirs).unwrap();
/// catsdogs::fsutil::remove_stale_temporaries(dir.path(), |name| name == "x.npy");
/// assert!(!stale.exists() && theirs.exists());
/// ```
pub fn remove_stale_temporaries(dir: &Path, owned: impl Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(target) = name.to_str().and_then(temporary_target) else {
            continue;
        };
        if !owned(target) {
            continue;
        }
        let path = entry.path();
        // A live write holds its lock; a dead one's lock went with its process.
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                let _ = std::fs::remove_dir_all(&path);
            }
            Ok(kind) if kind.is_file() => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

/// A file being written atomically; see the module's notes. It writes like a [`File`]; nothing
/// is visible at the target until [`AtomicFile::commit`].
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path`: a temporary file in its folder, which is created if needed, after
    /// removing the temporary files that killed writes of `path` left there.
    pub fn create(path: &Path) -> Result<Self> {
        let name = name_of(path);
        remove_stale_temporaries(folder_of(path), |target| target == name);
        AtomicFile::create_unswept(path)
    }

    /// As [`create`](Self::create), without looking for stale temporary files: for a writer of
    /// many files into one folder that sweeps the folder once itself (the split).
    pub fn create_unswept(path: &Path) -> Result<Self> {
        let dir = folder_of(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        let temp = temporary(path, 0o666, |b| b.tempfile_in(dir))
            .map_err(|e| Error::io("cannot write", path, e))?;
        hold(temp.as_file());
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
                path: path.to_path_buf(),
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

/// A folder being written atomically: files go into a temporary folder beside the target
/// (`.NAME.XXXXXX.tmp`), which [`commit`](Self::commit) renames over it, so the target is
/// complete or absent. Dropped before it is committed, the temporary folder is removed.
pub struct AtomicFolder {
    temp: tempfile::TempDir,
    _lock: Option<File>,
    path: PathBuf,
}

impl AtomicFolder {
    /// Starts writing the folder `path` (its parent is created if needed), after removing the
    /// temporary folders that killed writes of any target that `owned` accepts left beside it.
    pub fn create(path: &Path, owned: impl Fn(&str) -> bool) -> Result<Self> {
        let dir = folder_of(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        remove_stale_temporaries(dir, owned);
        let temp = temporary(path, 0o777, |b| b.tempdir_in(dir))
            .map_err(|e| Error::io("cannot create a folder in", dir, e))?;
        let lock = File::open(temp.path()).ok();
        if let Some(lock) = &lock {
            hold(lock);
        }
        Ok(AtomicFolder {
            temp,
            _lock: lock,
            path: path.to_path_buf(),
        })
    }

    /// The temporary folder, where the files go.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Replaces the target folder (and whatever it held) with the written one.
    pub fn commit(self) -> Result<()> {
        let AtomicFolder { temp, path, .. } = self;
        let _ = std::fs::remove_dir_all(&path);
        std::fs::rename(temp.path(), &path)
            .map_err(|e| Error::io("cannot rename into", &path, e))?;
        let _ = temp.keep();
        sync_folder(folder_of(&path))
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
                path: dir.to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
        }
    }
}

/// The place of an existing file: its device and inode, through links.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Where a path leads, absolute: every existing part resolved (links, `..`), then the missing
/// tail, whose `..` undo the missing folder before them (which cannot be a link).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let at = catsdogs::fsutil::resolve(&dir.path().join("a/../b/c"));
/// assert_eq!(at, dir.path().canonicalize().unwrap().join("b/c"));
/// ```
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing: Vec<std::ffi::OsString> = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(mut found) = existing.canonicalize() {
            for part in missing.iter().rev() {
                match part.to_str() {
                    Some("..") => {
                        found.pop();
                    }
                    Some(".") => {}
                    _ => found.push(part),
                }
            }
            return found;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                missing.push(last.as_os_str().to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Whether two paths name the same file: the same resolved path, or (when it exists) the same
/// file through a link, a hard link or another spelling.
fn same_file(a: &Path, b: &Path) -> bool {
    let by_identity = matches!((identity(a), identity(b)), (Some(a), Some(b)) if a == b);
    by_identity || resolve(a) == resolve(b)
}

/// Refuses to run a command whose outputs include one of its inputs (by its name, another
/// spelling of it, or a link to it): writing the output would destroy the input. Every command
/// calls it with its paths before it reads or writes anything.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let zip = dir.path().join("t1.zip");
/// std::fs::write(&zip, b"PK").unwrap();
/// let csv = dir.path().join("s.csv");
/// use catsdogs::fsutil::refuse_inputs_as_outputs;
/// assert!(refuse_inputs_as_outputs(&[&zip], &[&csv]).is_ok());
/// let err = refuse_inputs_as_outputs(&[&zip], &[&zip]).unwrap_err();
/// assert!(err.to_string().contains("would destroy"), "{err}");
/// ```
pub fn refuse_inputs_as_outputs(inputs: &[&Path], outputs: &[&Path]) -> Result<()> {
    for output in outputs {
        if let Some(input) = inputs.iter().find(|input| same_file(input, output)) {
            let link = if output == input {
                String::new()
            } else {
                format!(" (as {})", input.display())
            };
            return Err(Error::invalid(
                output,
                format!(
                    "is also an input of this command{link}, and writing it would destroy that input: choose another output path"
                ),
            ));
        }
    }
    Ok(())
}

/// Opens `path` for reading if it is a regular file (through links): a FIFO, a socket, a device
/// or a folder is refused with what it is, without waiting on it (opening a FIFO blocks until
/// someone writes to it).
pub fn open_file(path: &Path) -> Result<File> {
    let not_a_file = |kind: std::fs::FileType| {
        let what = if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else if kind.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        };
        Error::invalid(
            path,
            format!("is {what}, not a file that can be read: give a regular file"),
        )
    };
    let kind = std::fs::metadata(path)
        .map_err(|e| Error::read(path, e))?
        .file_type();
    if !kind.is_file() {
        return Err(not_a_file(kind));
    }
    // Non-blocking, in case the path became a FIFO since: the check below then says so.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::read(path, e))?;
    let kind = file
        .metadata()
        .map_err(|e| Error::read(path, e))?
        .file_type();
    if !kind.is_file() {
        return Err(not_a_file(kind));
    }
    Ok(file)
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
                    path: path.to_path_buf(),
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

/// Records that a cache file was just used, as its modification time (its content stays as it
/// is): a cache that removes the files used longest ago reads it back. A file system that
/// refuses is not an error; the file then only looks older than it is.
pub fn mark_used(path: &Path) {
    if let Ok(file) = File::open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
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
    fn only_the_temporaries_of_dead_writes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let live = AtomicFile::create(&path).unwrap();
        let live_temp = live.temp.path().to_path_buf();
        let dead = dir.path().join(".w.safetensors.Ab12Cd.tmp");
        let others = [
            ".w.safetensors.notes",
            "w.safetensors.Ab12Cd.tmp",
            ".x.Ab12Cd.tmp",
        ];
        std::fs::write(&dead, b"left by kill -9").unwrap();
        for name in others {
            std::fs::write(dir.path().join(name), b"theirs").unwrap();
        }
        let mut second = AtomicFile::create(&path).unwrap();
        assert!(!dead.exists(), "a dead write's temporary file is removed");
        assert!(live_temp.exists(), "a live write's is kept");
        for name in others {
            assert!(dir.path().join(name).exists(), "{name} is not ours");
        }
        second.write_all(b"new").unwrap();
        second.commit().unwrap();
        drop(live);
        assert!(!live_temp.exists());
    }

    #[test]
    fn outputs_get_the_umask_mode_and_replaced_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new");
        write_atomic(&new, b"1").unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&new), 0o666 & !mask);
        let replaced = dir.path().join("replaced");
        std::fs::write(&replaced, b"old").unwrap();
        std::fs::set_permissions(&replaced, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&replaced, b"new").unwrap();
        assert_eq!(mode(&replaced), 0o640);
        let folder = AtomicFolder::create(&dir.path().join("f"), |_| false).unwrap();
        folder.commit().unwrap();
        assert_eq!(mode(&dir.path().join("f")), 0o777 & !mask);
    }

    #[test]
    fn an_output_that_is_an_input_is_refused_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("v.jpg");
        std::fs::write(&input, b"an image").unwrap();
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let hard = dir.path().join("hard.npy");
        std::fs::hard_link(&input, &hard).unwrap();
        let spelled = dir.path().join("sub/../v.jpg");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for output in [&input, &link, &hard, &spelled] {
            let err = refuse_inputs_as_outputs(&[&input], &[output]).unwrap_err();
            assert!(err.to_string().contains("would destroy"), "{err}");
        }
        let other = dir.path().join("v.npy");
        refuse_inputs_as_outputs(&[&input], &[&other]).unwrap();
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f.jpg");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        let err = open_file(&fifo).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        let err = open_file(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
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
