//! Decode once: every image of a flow, decoded and resized to the target size as `load_img`
//! does, stored as `uint8` (H, W, 3) in one file per folder, memory-mapped. After the first
//! `flow_from_directory` no epoch reads a JPEG.
//!
//! The cache lives beside the folder, in `<parent>/.catsdogs-cache/<name>/` (see
//! [`default_cache_dir`]), unless `FlowOptions::cache_dir` says otherwise. It holds:
//!
//! - `images-<key>.u8`: a [`crate::cache_file`] whose header says the pixel rules, the count,
//!   the size and the key, and whose payload is the pixels. `<key>` is the content key: SHA-256
//!   over the resize settings and each file's relative path and content hash
//!   ([`crate::hashing::content_hash`], XXH3-128), so the same images give the same key on any
//!   machine, and any change of content gives another key, whatever the files' sizes and
//!   dates say. Every file is read and hashed each time a flow opens its cache (at several GB/s:
//!   the reading costs more than the hash). Written atomically; checked against its checksum
//!   when opened.
//! - `index-<id>.json`, one per (folder, target size): the key of the folder's images file, so
//!   that the images files of older contents can be deleted.
//!
//! With `FlowOptions::cache` off nothing is written: the key is computed all the same, and each
//! batch's images are decoded when it is gathered.
//!
//! The folder may be deleted at any time; it is rebuilt on the next call.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::decode::{decode_rgb, read_image_file};
use super::listing::ImageList;
use super::load::resize_nearest_into;
use crate::cache_file::{CacheFile, CacheFileWriter};
use crate::console::human_bytes;
use crate::error::{Error, Result};
use crate::fsutil::{available_space, remove_stale_temporaries, write_atomic};
use crate::hashing::{content_hash, hex, sha256_hex};
use crate::progress::Progress;

const MAGIC: &[u8; 8] = b"CDIMG002";
/// Images decoded in parallel before they are written: at most this many bytes of pixels (so
/// about 256 images at 224x224, one at the largest target size).
const CHUNK_BYTES: usize = 1 << 25;
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

/// The decoded images of one folder: memory-mapped from their cache file, or (with the cache
/// off) decoded from the image files when asked for.
pub(crate) struct ImageCache {
    store: Store,
    header: Header,
}

/// Where the pixels come from.
enum Store {
    /// The images file, memory-mapped.
    Mapped(CacheFile),
    /// The image files themselves, decoded at each use.
    Files(Vec<PathBuf>),
}

/// What an images file holds.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Header {
    rules: String,
    count: usize,
    height: u32,
    width: u32,
    key: String,
}

/// The key of a folder's images file, recorded so that older images files can be deleted.
#[derive(serde::Serialize, serde::Deserialize)]
struct Index {
    directory: String,
    key: String,
}

impl ImageCache {
    /// Maps the cache of `list` (the images of `dir`) at `(height, width)`, building it first if
    /// needed (decoding in parallel on all cores, with a progress bar). With `cache_dir`
    /// `None`, nothing is written: the images are decoded when they are asked for.
    pub(crate) fn open_or_build(
        dir: &Path,
        list: &ImageList,
        (height, width): (u32, u32),
        cache_dir: Option<&Path>,
    ) -> Result<Self> {
        let paths: Vec<PathBuf> = list.filenames.iter().map(|f| dir.join(f)).collect();
        let key = content_key(&list.filenames, &paths, height, width)?;
        let header = Header {
            rules: PIXEL_RULES.into(),
            count: paths.len(),
            height,
            width,
            key,
        };
        let Some(cache_dir) = cache_dir else {
            return Ok(ImageCache {
                store: Store::Files(paths),
                header,
            });
        };
        std::fs::create_dir_all(cache_dir).map_err(|e| {
            Error::invalid(
                cache_dir,
                format!(
                    "cannot create the image cache folder ({e}): set --cache-dir (FlowOptions::cache_dir) to a writable folder"
                ),
            )
        })?;
        let canonical = dir.canonicalize().map_err(|e| Error::read(dir, e))?;
        let directory = canonical.display().to_string();
        let id = sha256_hex(format!("{directory}\n{height}x{width}"))[..16].to_string();
        let path = images_path(cache_dir, &header.key);
        let file = match Self::open(&path, &header) {
            Ok(file) => file,
            Err(_) => {
                build(&path, &paths, &header)?;
                Self::open(&path, &header)?
            }
        };
        let index = Index {
            directory,
            key: header.key.clone(),
        };
        let json = serde_json::to_vec_pretty(&index).expect("an index serialises");
        write_atomic(&cache_dir.join(format!("index-{id}.json")), &json)?;
        remove_unindexed(cache_dir);
        Ok(ImageCache {
            store: Store::Mapped(file),
            header,
        })
    }

    /// The images file at `path`, if it holds the images `expected` says.
    fn open(path: &Path, expected: &Header) -> Result<CacheFile> {
        let unusable = |why: String| Error::invalid(path, why);
        let file = CacheFile::open(path, MAGIC).ok_or_else(|| unusable("it is missing".into()))?;
        let header: Header = file
            .header()
            .ok_or_else(|| unusable("its header does not read".into()))?;
        let image_len = expected.height as usize * expected.width as usize * 3;
        if header != *expected || file.payload().len() != expected.count * image_len {
            return Err(unusable(
                "it holds other images: it is decoded again".into(),
            ));
        }
        Ok(file)
    }

    /// Puts the pixels of image `i`, (height, width, 3) `u8`, into `out` (of
    /// [`image_len`](Self::image_len) bytes). `i` must be below the count.
    pub(crate) fn image_into(&self, i: usize, out: &mut [u8]) -> Result<()> {
        match &self.store {
            Store::Mapped(_) => {
                out.copy_from_slice(&self.image(i)?);
                Ok(())
            }
            Store::Files(paths) => {
                decode_into(&paths[i], self.header.width, self.header.height, out)
            }
        }
    }

    /// The pixels of image `i`, (height, width, 3) `u8`: borrowed from the images file, or
    /// decoded with the cache off. `i` must be below the count.
    pub(crate) fn image(&self, i: usize) -> Result<Cow<'_, [u8]>> {
        match &self.store {
            Store::Mapped(file) => {
                let len = self.image_len();
                Ok(Cow::Borrowed(&file.payload()[i * len..][..len]))
            }
            Store::Files(paths) => {
                let mut out = vec![0u8; self.image_len()];
                decode_into(&paths[i], self.header.width, self.header.height, &mut out)?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// Bytes per image.
    pub(crate) fn image_len(&self) -> usize {
        self.header.height as usize * self.header.width as usize * 3
    }

    /// The number of images.
    pub(crate) fn count(&self) -> usize {
        self.header.count
    }

    /// The content key.
    pub(crate) fn key(&self) -> &str {
        &self.header.key
    }

    /// The images file; `None` with the cache off.
    pub(crate) fn path(&self) -> Option<&Path> {
        match &self.store {
            Store::Mapped(file) => Some(file.path()),
            Store::Files(_) => None,
        }
    }
}

/// Decodes the image file `path` and resizes it to `width` x `height` into `out`, as `load_img`
/// does.
fn decode_into(path: &Path, width: u32, height: u32, out: &mut [u8]) -> Result<()> {
    let image = decode_rgb(&read_image_file(path)?, path)?;
    resize_nearest_into(&image, width, height, out);
    Ok(())
}

fn images_path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(format!("images-{key}.u8"))
}

/// SHA-256 over the pixel rules, the target size and each file's name and content hash, the
/// files read and hashed in parallel.
fn content_key(names: &[String], paths: &[PathBuf], height: u32, width: u32) -> Result<String> {
    let hashes: Vec<String> = paths
        .par_iter()
        .map(|path| Ok(content_hash(&read_image_file(path)?)))
        .collect::<Result<_>>()?;
    let mut hasher = Sha256::new();
    hasher.update(format!("{PIXEL_RULES}\ntarget {height}x{width}\n"));
    for (name, hash) in names.iter().zip(&hashes) {
        hasher.update(format!("{name}\t{hash}\n"));
    }
    Ok(hex(&hasher.finalize()))
}

/// Decodes and resizes the images in parallel, a chunk at a time, into the images file at
/// `path` with `header` (written atomically), after checking that the disk has room for it.
fn build(path: &Path, paths: &[PathBuf], header: &Header) -> Result<()> {
    let (height, width) = (header.height, header.width);
    let image_len = height as usize * width as usize * 3;
    let total = paths.len() as u64 * image_len as u64;
    if let Some(free) = available_space(path) {
        if free < total.saturating_add(1 << 28) {
            return Err(Error::invalid(
                path,
                format!(
                    "the decoded images take {} but the disk has {} free: free some space, or set --cache-dir (FlowOptions::cache_dir) to a folder on a larger disk",
                    human_bytes(total),
                    human_bytes(free),
                ),
            ));
        }
    }
    crate::say!(
        "Decoding {} images once into {} ({height}x{width})",
        paths.len(),
        path.display()
    );
    let mut file = CacheFileWriter::create(path, MAGIC, header)?;
    let progress = Progress::new(paths.len() as u64);
    let done = AtomicU64::new(0);
    let chunk = (CHUNK_BYTES / image_len).clamp(1, paths.len().max(1));
    let mut buffer = vec![0u8; chunk * image_len];
    for names in paths.chunks(chunk) {
        crate::interrupt::check(|| format!("while decoding images into {}", path.display()))?;
        let slots = &mut buffer[..names.len() * image_len];
        slots
            .par_chunks_mut(image_len)
            .zip(names.par_iter())
            .try_for_each(|(slot, path)| {
                decode_into(path, width, height, slot)?;
                progress.set(done.fetch_add(1, Ordering::Relaxed) + 1, "");
                Ok::<(), Error>(())
            })?;
        file.write_payload(slots)?;
    }
    file.commit()?;
    progress.finish("decoded");
    Ok(())
}

/// Deletes images files that no index refers to any more (older contents of the folders), and
/// the temporary files of cache files whose writing was killed.
fn remove_unindexed(cache_dir: &Path) {
    remove_stale_temporaries(cache_dir, |_| true);
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
