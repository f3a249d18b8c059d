//! The zip container of a `.keras` file: members read by name, each one's declared size
//! checked against what the archive holds of it before anything is unpacked (a member may
//! declare at most [`MAX_EXPANSION`] times its packed size, past a floor, as Keras's own
//! `_reject_zip_bomb` has it) and read no further than it declares; and a zip written with its
//! members stored uncompressed, as Keras writes them, atomically through [`crate::fsutil`].

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;

/// The most a member may declare per byte the archive holds of it.
pub(super) const MAX_EXPANSION: u64 = 100;

/// Below this many bytes a member is never a bomb, whatever it declares.
const BOMB_FLOOR: u64 = 1 << 20;

/// An open zip file.
pub(super) struct Archive {
    zip: ZipArchive<Cursor<memmap2::Mmap>>,
    path: PathBuf,
}

impl Archive {
    /// Opens (maps) the zip at `path`, which should be `format` (for messages).
    pub(super) fn open(path: &Path, format: &'static str) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        // SAFETY: the map is only read; a file truncated by another process meanwhile is the
        // caller's risk, as with any memory-mapped read.
        let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::read(path, e))?;
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::Unreadable {
            path: path.to_path_buf(),
            format,
            why: format!("it is not a readable zip archive ({e}); it may be truncated"),
        })?;
        Ok(Archive {
            zip,
            path: path.to_path_buf(),
        })
    }

    /// The unpacked bytes of the member `name`, if the archive has it.
    pub(super) fn member(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path.clone();
        let damaged = |why: String| Error::KerasInvalid {
            path: path.clone(),
            part: format!("member {name}"),
            why: format!("{why}: the file is damaged; copy or save it again"),
        };
        let member = match self.zip.by_name(name) {
            Ok(member) => member,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(damaged(format!("cannot be read ({e})"))),
        };
        let declared = member.size();
        let stored = member.compressed_size();
        if declared > BOMB_FLOOR && declared > stored.saturating_mul(MAX_EXPANSION) {
            return Err(Error::ZipBomb {
                path,
                member: name.to_string(),
                declared,
                stored,
                ratio: MAX_EXPANSION,
            });
        }
        // Bounded by the check above: at most MAX_EXPANSION times what the file holds. One byte
        // past the declared size is asked for, so that a member longer than it says is seen
        // and the zip reader reaches the member's end, where it checks the CRC.
        let mut bytes = Vec::with_capacity(declared as usize);
        member
            .take(declared + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| damaged(format!("cannot be unpacked ({e})")))?;
        if bytes.len() as u64 != declared {
            return Err(damaged(format!(
                "unpacks to {} bytes where it declares {declared}",
                bytes.len()
            )));
        }
        Ok(Some(bytes))
    }
}

/// Writes a zip of `members` (name, bytes), stored uncompressed in this order, at `path`.
pub(super) fn write(path: &Path, members: &[(&str, &[u8])]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    let failed = |e: zip::result::ZipError| match e {
        zip::result::ZipError::Io(e) => Error::write(path, e),
        other => Error::write(path, std::io::Error::other(other)),
    };
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(
            members
                .iter()
                .any(|(_, b)| b.len() as u64 >= u32::MAX as u64),
        );
    let mut zip = ZipWriter::new(&mut file);
    for (name, bytes) in members {
        zip.start_file(*name, options).map_err(failed)?;
        zip.write_all(bytes).map_err(|e| Error::write(path, e))?;
    }
    zip.finish().map_err(failed)?;
    file.commit()
}
