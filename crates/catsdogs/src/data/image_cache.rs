//! Decode once: every image of a flow, decoded and resized to the target size as `load_img`
//! does, stored as `uint8` (H, W, 3) in one file per folder, memory-mapped. After the first
//! `flow_from_directory` no epoch reads a JPEG.
//!
//! The cache lives beside the folder, in `<parent>/.catsdogs-cache/<name>/` (see
//! [`default_cache_dir`]), unless `FlowOptions::cache_dir` says otherwise. It holds:
//!
//! - `images-<key>.u8`: a 64-byte header (magic, count, height, width, key) and the pixels.
//!   `<key>` is the content key: SHA-256 over the resize settings and each file's relative path
//!   and SHA-256, so the same images give the same key on any machine. Written atomically.
//! - `index-<id>.json`, one per (folder, target size): the files' sizes and modification times
//!   when the key was computed, so that a later call only compares `stat`s instead of hashing
//!   every file again. When they differ, the files are hashed; unchanged content keeps its key
//!   and its images, changed content is decoded again and the old images file is deleted.
//!
//! The folder may be deleted at any time; it is rebuilt on the next call.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use memmap2::Mmap;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::decode::decode_rgb;
use super::error::DataError;
use super::listing::ImageList;
use super::load::resize_nearest_into;
use crate::fsutil::{write_atomic, write_atomic_with};
use crate::progress::Progress;

const MAGIC: &[u8; 8] = b"CDIMG001";
const HEADER_LEN: usize = 64;
/// Changes whenever decoding or resizing could give other pixels, so old caches are not reused.
const PIXEL_RULES: &str = "catsdogs decoded images v1: libjpeg-turbo islow + fancy upsampling, \
                           Pillow convert('RGB'), Pillow NEAREST (accumulated f64)";

/// The default cache folder of a data folder: `<parent>/.catsdogs-cache/<name>/`, beside it
/// rather than inside, because Keras and torchvision take every sub-folder, hidden ones too, for a
/// class: a cache inside `train/` would shift their labels. A folder without a parent (`/`) keeps
/// its cache inside.
///
/// ```
/// use std::path::Path;
/// assert_eq!(
///     catsdogs::data::default_cache_dir(Path::new("data/split/train")),
///     Path::new("data/split/.catsdogs-cache/train"),
/// );
/// ```
pub fn default_cache_dir(dir: &Path) -> PathBuf {
    match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) => parent.join(".catsdogs-cache").join(name),
        _ => dir.join(".catsdogs-cache"),
    }
}

/// The decoded images of one folder, memory-mapped.
pub(crate) struct ImageCache {
    map: Mmap,
    count: usize,
    height: u32,
    width: u32,
    key: String,
    path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Index {
    directory: String,
    stats: String,
    key: String,
}

impl ImageCache {
    /// Maps the cache of `list` (the images of `dir`) at `(height, width)`, building it first if
    /// needed (decoding in parallel on all cores, with a progress bar).
    pub(crate) fn open_or_build(
        dir: &Path,
        list: &ImageList,
        (height, width): (u32, u32),
        cache_dir: &Path,
    ) -> Result<Self, DataError> {
        std::fs::create_dir_all(cache_dir).map_err(|e| {
            DataError::invalid(
                cache_dir,
                format!("cannot create the image cache folder ({e}): set FlowOptions::cache_dir to a writable folder"),
            )
        })?;
        let paths: Vec<PathBuf> = list.filenames.iter().map(|f| dir.join(f)).collect();
        let canonical = dir.canonicalize().map_err(|e| DataError::read(dir, e))?;
        let directory = canonical.display().to_string();
        let id = hex(&Sha256::digest(format!("{directory}\n{height}x{width}")))[..16].to_string();
        let index_path = cache_dir.join(format!("index-{id}.json"));
        let stats = stats_key(&list.filenames, &paths)?;

        let indexed = std::fs::read(&index_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Index>(&bytes).ok())
            .filter(|index| index.stats == stats && index.directory == directory);
        if let Some(index) = indexed {
            if let Ok(cache) =
                Self::open(cache_dir, &index.key, list.filenames.len(), height, width)
            {
                return Ok(cache);
            }
        }
        let key = content_key(&list.filenames, &paths, height, width)?;
        let cache = match Self::open(cache_dir, &key, list.filenames.len(), height, width) {
            Ok(cache) => cache,
            Err(_) => {
                build(&images_path(cache_dir, &key), &paths, height, width, &key)?;
                Self::open(cache_dir, &key, list.filenames.len(), height, width)?
            }
        };
        let index = Index {
            directory,
            stats,
            key,
        };
        let json = serde_json::to_vec_pretty(&index).expect("an index serialises");
        write_atomic(&index_path, &json)?;
        remove_unindexed(cache_dir);
        Ok(cache)
    }

    fn open(
        cache_dir: &Path,
        key: &str,
        count: usize,
        height: u32,
        width: u32,
    ) -> Result<Self, DataError> {
        let path = images_path(cache_dir, key);
        let file = std::fs::File::open(&path).map_err(|e| DataError::read(&path, e))?;
        // SAFETY: cache files are written once, atomically (temporary file + rename), and never
        // modified in place; a rebuilt cache is a new file under a new name.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| DataError::read(&path, e))?;
        let expected = header(count, height, width, key);
        let image_len = height as usize * width as usize * 3;
        if map.len() != HEADER_LEN + count * image_len || map[..HEADER_LEN] != expected {
            return Err(DataError::invalid(
                &path,
                "is not the expected image cache: delete it",
            ));
        }
        Ok(ImageCache {
            map,
            count,
            height,
            width,
            key: key.to_string(),
            path,
        })
    }

    /// The pixels of image `i`, (height, width, 3) `u8`. `i` must be below the count.
    pub(crate) fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.map[HEADER_LEN + i * len..][..len]
    }

    /// Bytes per image.
    pub(crate) fn image_len(&self) -> usize {
        self.height as usize * self.width as usize * 3
    }

    /// The number of images.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The content key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The images file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn images_path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(format!("images-{key}.u8"))
}

fn header(count: usize, height: u32, width: u32, key: &str) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&(count as u64).to_le_bytes());
    h[16..20].copy_from_slice(&height.to_le_bytes());
    h[20..24].copy_from_slice(&width.to_le_bytes());
    let digest = Sha256::digest(key.as_bytes());
    h[24..56].copy_from_slice(&digest);
    h
}

/// SHA-256 over each file's name, size and modification time.
fn stats_key(names: &[String], paths: &[PathBuf]) -> Result<String, DataError> {
    let mut hasher = Sha256::new();
    for (name, path) in names.iter().zip(paths) {
        let meta = std::fs::metadata(path).map_err(|e| DataError::read(path, e))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        hasher.update(format!("{name}\t{}\t{modified}\n", meta.len()));
    }
    Ok(hex(&hasher.finalize()))
}

/// SHA-256 over the pixel rules, the target size and each file's name and content hash.
fn content_key(
    names: &[String],
    paths: &[PathBuf],
    height: u32,
    width: u32,
) -> Result<String, DataError> {
    let hashes: Vec<String> = paths
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| DataError::read(path, e))?;
            Ok(hex(&Sha256::digest(&bytes)))
        })
        .collect::<Result<_, DataError>>()?;
    let mut hasher = Sha256::new();
    hasher.update(format!("{PIXEL_RULES}\ntarget {height}x{width}\n"));
    for (name, hash) in names.iter().zip(&hashes) {
        hasher.update(format!("{name}\t{hash}\n"));
    }
    Ok(hex(&hasher.finalize()))
}

/// Decodes and resizes the images in parallel, a chunk at a time, into a temporary file that is
/// then renamed into place.
fn build(
    path: &Path,
    paths: &[PathBuf],
    height: u32,
    width: u32,
    key: &str,
) -> Result<(), DataError> {
    /// Images decoded in parallel before they are written (about 38 MB at 224x224).
    const CHUNK: usize = 256;
    let image_len = height as usize * width as usize * 3;
    println!(
        "Decoding {} images once into {} ({height}x{width})",
        paths.len(),
        path.display()
    );
    let progress = Progress::new(paths.len() as u64, "");
    let done = AtomicU64::new(0);
    let failure: Mutex<Option<DataError>> = Mutex::new(None);
    let written = write_atomic_with(path, |file| {
        file.write_all(&header(paths.len(), height, width, key))?;
        let mut buffer = vec![0u8; CHUNK.min(paths.len()) * image_len];
        for chunk in paths.chunks(CHUNK) {
            let slots = &mut buffer[..chunk.len() * image_len];
            let decoded = slots
                .par_chunks_mut(image_len)
                .zip(chunk.par_iter())
                .try_for_each(|(slot, path)| {
                    let bytes = std::fs::read(path).map_err(|e| DataError::read(path, e))?;
                    let image = decode_rgb(&bytes, path)?;
                    resize_nearest_into(&image, width, height, slot);
                    progress.set(done.fetch_add(1, Ordering::Relaxed) + 1, "");
                    Ok(())
                });
            if let Err(e) = decoded {
                *failure.lock().expect("failure slot") = Some(e);
                return Err(std::io::Error::other("an image could not be decoded"));
            }
            file.write_all(slots)?;
        }
        Ok(())
    });
    if let Some(e) = failure.into_inner().expect("failure slot") {
        return Err(e);
    }
    written?;
    progress.finish("decoded");
    Ok(())
}

/// Deletes images files that no index refers to any more (older contents of the folders).
fn remove_unindexed(cache_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let keys: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("index-") && n.ends_with(".json"))
        .filter_map(|n| std::fs::read(cache_dir.join(n)).ok())
        .filter_map(|bytes| serde_json::from_slice::<Index>(&bytes).ok())
        .map(|index| index.key)
        .collect();
    for name in names {
        if let Some(key) = name
            .strip_prefix("images-")
            .and_then(|n| n.strip_suffix(".u8"))
        {
            if !keys.iter().any(|k| k == key) {
                let _ = std::fs::remove_file(cache_dir.join(&name));
            }
        }
    }
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
