//! The one binary format of the crate's caches (decoded images, cached features): a header that
//! says what the file holds, then a payload that is memory-mapped and read in place.
//!
//! ```text
//! bytes  0..8    magic, naming the kind of cache and its version
//! bytes  8..16   length of the JSON header (u64, little-endian)
//! bytes 16..24   length of the payload (u64)
//! bytes 24..28   CRC-32 of the payload
//! bytes 28..32   zero
//! bytes 32..     the JSON header, then zeros up to a multiple of 64 bytes, then the payload
//! ```
//!
//! Files are written through [`crate::fsutil::AtomicFile`] and never changed in place, so a file
//! is complete or absent. The checksum catches what that cannot: a file damaged on disk (or by
//! hand) at the same size is refused when it is opened, and the cache then rebuilds it.
//!
//! ```
//! use catsdogs::cache_file::{CacheFile, CacheFileWriter};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("numbers.bin");
//! let mut writer = CacheFileWriter::create(&path, b"EXAMPLE1", &vec![3, 4]).unwrap();
//! writer.write_payload(&[1, 2, 3]).unwrap();
//! writer.commit().unwrap();
//! let file = CacheFile::open(&path, b"EXAMPLE1").expect("complete and intact");
//! assert_eq!(file.header::<Vec<u32>>().unwrap(), vec![3, 4]);
//! assert_eq!(file.payload(), &[1, 2, 3]);
//! ```

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::Result;
use crate::fsutil::AtomicFile;

/// The payload starts at a multiple of this many bytes.
const ALIGN: usize = 64;
/// Bytes before the JSON header.
const PREFIX: usize = 32;

/// A cache file being written: header first, then the payload in pieces, then [`commit`].
///
/// [`commit`]: CacheFileWriter::commit
pub struct CacheFileWriter {
    file: AtomicFile,
    crc: crc32fast::Hasher,
    length: u64,
}

impl CacheFileWriter {
    /// Starts the file at `path` with its kind (`magic`) and its JSON `header`.
    pub fn create(path: &Path, magic: &[u8; 8], header: &impl serde::Serialize) -> Result<Self> {
        let json = serde_json::to_vec(header).expect("cache headers serialise");
        let mut file = AtomicFile::create(path)?;
        let mut start = vec![0u8; payload_offset(json.len())];
        start[..8].copy_from_slice(magic);
        start[8..16].copy_from_slice(&(json.len() as u64).to_le_bytes());
        start[PREFIX..PREFIX + json.len()].copy_from_slice(&json);
        file.write_all(&start).map_err(|e| file.error(e))?;
        Ok(CacheFileWriter {
            file,
            crc: crc32fast::Hasher::new(),
            length: 0,
        })
    }

    /// Appends bytes to the payload.
    pub fn write_payload(&mut self, bytes: &[u8]) -> Result<()> {
        self.crc.update(bytes);
        self.length += bytes.len() as u64;
        let file = &mut self.file;
        file.write_all(bytes).map_err(|e| file.error(e))
    }

    /// Records the payload's length and checksum, and puts the file in place atomically.
    pub fn commit(self) -> Result<()> {
        let CacheFileWriter {
            mut file,
            crc,
            length,
        } = self;
        let mut lengths = [0u8; 12];
        lengths[..8].copy_from_slice(&length.to_le_bytes());
        lengths[8..].copy_from_slice(&crc.finalize().to_le_bytes());
        let written = file
            .flush()
            .and_then(|()| file.file().seek(SeekFrom::Start(16)))
            .and_then(|_| file.file().write_all(&lengths));
        written.map_err(|e| file.error(e))?;
        file.commit()
    }
}

/// Why a cache file is not used (it is computed again).
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("it cannot be mapped: {0}")]
    Unmappable(std::io::Error),
    #[error("another kind of file, or another version")]
    OtherKind,
    #[error("its header is longer than the file")]
    LongHeader,
    #[error("its size is not what its header says (cut short?)")]
    WrongSize,
    #[error("its content does not match its checksum")]
    WrongChecksum,
}

/// A cache file, opened and checked, its payload memory-mapped.
#[derive(Debug)]
pub struct CacheFile {
    map: Mmap,
    path: PathBuf,
    header: (usize, usize),
    payload: usize,
}

impl CacheFile {
    /// Opens `path` if it is a complete, intact cache file of kind `magic`: the lengths agree
    /// with the file's size and the payload with its checksum. `None` when there is no such
    /// file, or it cannot be read; a damaged one is also said ("Ignoring ...") and the cache
    /// computes it again.
    pub fn open(path: &Path, magic: &[u8; 8]) -> Option<CacheFile> {
        let file = std::fs::File::open(path).ok()?;
        match CacheFile::check(path, &file, magic) {
            Ok(file) => Some(file),
            Err(why) => {
                crate::say!(
                    "Ignoring {}: it is not a usable cache file ({why}); it is computed again.",
                    path.display()
                );
                None
            }
        }
    }

    /// The checks of [`open`](Self::open), with what is wrong.
    fn check(path: &Path, file: &std::fs::File, magic: &[u8; 8]) -> Result<CacheFile, Unusable> {
        // SAFETY: cache files are written once, atomically, and never modified in place; a
        // rebuilt cache is a new file renamed over the old one, so a mapping never changes.
        let map = unsafe { Mmap::map(file) }.map_err(Unusable::Unmappable)?;
        if map.len() < PREFIX || &map[..8] != magic {
            return Err(Unusable::OtherKind);
        }
        let read_u64 = |at: usize| u64::from_le_bytes(map[at..at + 8].try_into().expect("8 bytes"));
        let (header_len, payload_len) = (read_u64(8), read_u64(16));
        let crc = u32::from_le_bytes(map[24..28].try_into().expect("4 bytes"));
        let offset = usize::try_from(header_len)
            .ok()
            .filter(|&len| len <= map.len())
            .map(payload_offset)
            .ok_or(Unusable::LongHeader)?;
        if offset as u64 + payload_len != map.len() as u64 {
            return Err(Unusable::WrongSize);
        }
        if crc32fast::hash(&map[offset..]) != crc {
            return Err(Unusable::WrongChecksum);
        }
        Ok(CacheFile {
            path: path.to_path_buf(),
            header: (PREFIX, PREFIX + header_len as usize),
            payload: offset,
            map,
        })
    }

    /// The JSON header, read as `H`; `None` if it does not read as one.
    pub fn header<H: serde::de::DeserializeOwned>(&self) -> Option<H> {
        let (start, end) = self.header;
        serde_json::from_slice(&self.map[start..end]).ok()
    }

    /// The payload, in place in the mapped file.
    pub fn payload(&self) -> &[u8] {
        &self.map[self.payload..]
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What a cache file's first bytes say, read without mapping or checking its payload: enough to
/// list caches and to tell ours from other files, at the cost of one small read.
#[derive(Debug)]
pub struct Peek<H> {
    /// The kind of cache and its version.
    pub magic: [u8; 8],
    /// The JSON header, if it reads as `H`.
    pub header: Option<H>,
    /// The payload's length, which the file's size agrees with.
    pub payload_len: u64,
}

/// Headers longer than this are not read by [`peek`]: no cache writes one near it.
const MAX_PEEKED_HEADER: u64 = 1 << 20;

/// Reads the first bytes of `path`: its magic and header, if it is a complete cache file (its
/// lengths agree with its size). The payload is neither read nor checked ([`CacheFile::open`]
/// does that).
///
/// ```
/// use catsdogs::cache_file::{peek, CacheFileWriter};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("numbers.bin");
/// let mut writer = CacheFileWriter::create(&path, b"EXAMPLE1", &vec![3, 4]).unwrap();
/// writer.write_payload(&[1, 2, 3]).unwrap();
/// writer.commit().unwrap();
/// let peeked = peek::<Vec<u32>>(&path).unwrap();
/// assert_eq!((&peeked.magic, peeked.header, peeked.payload_len), (b"EXAMPLE1", Some(vec![3, 4]), 3));
/// ```
pub fn peek<H: serde::de::DeserializeOwned>(path: &Path) -> Option<Peek<H>> {
    let mut file = crate::fsutil::open_file(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut prefix = [0u8; PREFIX];
    file.read_exact(&mut prefix).ok()?;
    let read_u64 = |at: usize| u64::from_le_bytes(prefix[at..at + 8].try_into().expect("8 bytes"));
    let (header_len, payload_len) = (read_u64(8), read_u64(16));
    if header_len > MAX_PEEKED_HEADER {
        return None;
    }
    let offset = payload_offset(header_len as usize) as u64;
    if offset.checked_add(payload_len) != Some(size) {
        return None;
    }
    let mut json = vec![0u8; header_len as usize];
    file.read_exact(&mut json).ok()?;
    Some(Peek {
        magic: prefix[..8].try_into().expect("8 bytes"),
        header: serde_json::from_slice(&json).ok(),
        payload_len,
    })
}

/// Where the payload starts after a JSON header of `header_len` bytes.
fn payload_offset(header_len: usize) -> usize {
    (PREFIX + header_len).div_ceil(ALIGN) * ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(dir: &Path) -> PathBuf {
        let path = dir.join("c.bin");
        let mut writer = CacheFileWriter::create(&path, b"TESTING1", &"hello").unwrap();
        writer.write_payload(&[7; 100]).unwrap();
        writer.write_payload(&[8; 28]).unwrap();
        writer.commit().unwrap();
        path
    }

    #[test]
    fn the_payload_starts_aligned_after_the_header() {
        assert_eq!(payload_offset(10), 64);
        assert_eq!(payload_offset(32), 64);
        assert_eq!(payload_offset(33), 128);
        let dir = tempfile::tempdir().unwrap();
        let file = CacheFile::open(&written(dir.path()), b"TESTING1").unwrap();
        assert_eq!(file.payload().len(), 128);
        assert_eq!(file.header::<String>().as_deref(), Some("hello"));
    }

    #[test]
    fn a_byte_changed_in_place_or_a_cut_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let check = |magic| {
            let file = std::fs::File::open(&path).unwrap();
            CacheFile::check(&path, &file, magic).map(|_| ())
        };
        assert!(check(b"TESTING1").is_ok());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(check(b"TESTING1"), Err(Unusable::WrongChecksum)));
        assert!(CacheFile::open(&path, b"TESTING1").is_none());
        std::fs::write(&path, &bytes[..last]).unwrap();
        assert!(matches!(check(b"TESTING1"), Err(Unusable::WrongSize)));
        assert!(matches!(check(b"OTHERKND"), Err(Unusable::OtherKind)));
        assert!(CacheFile::open(&dir.path().join("none"), b"TESTING1").is_none());
    }
}
