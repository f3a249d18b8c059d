//! A synthetic, Kaggle-like `train.zip` for machines without Kaggle's data: `cat.N.jpg` and
//! `dog.N.jpg` of varied sizes and aspect ratios, drawn so that the classes differ in colour and
//! shape (cats: warm background, a dark round face with two pointed ears; dogs: cool striped
//! background, a light square face with floppy ears), with some noise. A model learns them easily, even on top of
//! a randomly initialised VGG16. The zip says it is synthetic, in its comment and in a
//! `train/SYNTHETIC.txt` entry; `split` carries the note over to its output and its manifest.
//!
//! With [`SampleOptions::hard`] the classes overlap: some cats are painted as dogs and the
//! other way round, and only the faces' shapes tell them apart.
//!
//! The same options always give the same bytes. The default (300 images per class, 80 to 320
//! pixels a side) takes well under a second; 12,500 per class with
//! [`SampleOptions::kaggle_sizes`] make a stand-in for Kaggle's `train.zip` (mostly 500x375)
//! for benchmarks.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::rng::Rng;
use crate::console::human_bytes;
use crate::error::{Error, Result};
use crate::fsutil::{available_space, AtomicFile};
use crate::progress::Progress;

/// The note that marks the synthetic sample (zip comment, `SYNTHETIC.txt`).
pub const SYNTHETIC_TEXT: &str = "SYNTHETIC SAMPLE made by `catsdogs sample`: drawn cats (warm \
background, dark round face, pointed ears) and dogs (cool striped background, light square face, \
floppy ears), not Kaggle's dogs-vs-cats photos. Use it to try the notebooks and in tests; an \
accuracy on it says nothing about real cats and dogs.\n";

/// The most images per class a sample may have: four times Kaggle's 12,500.
pub const MAX_PER_CLASS: usize = 50_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleOptions {
    /// Images per class (default 300, at most [`MAX_PER_CLASS`]).
    pub per_class: usize,
    /// Kaggle's sizes (mostly 500x375, 250 to 500 pixels a side) instead of 80 to 320 pixels.
    pub kaggle_sizes: bool,
    /// The seed of the drawings (default 0).
    pub seed: u64,
    /// Classes that overlap: a share ([`HARD_SWAP`]) of each class is painted in the other
    /// class's colours and background, so that only the face's shape tells them apart and a
    /// model lands well below 100% (default false: the classes differ in everything).
    pub hard: bool,
    /// Replace an existing file at the output path (default false: refused).
    pub force: bool,
}

/// With [`SampleOptions::hard`], the share of images painted as the other class.
pub const HARD_SWAP: f64 = 0.3;

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            per_class: 300,
            kaggle_sizes: false,
            seed: 0,
            hard: false,
            force: false,
        }
    }
}

impl SampleOptions {
    /// An upper bound on the zip's size: JPEGs of these sizes at quality 90 stay well under it.
    fn max_bytes(&self) -> u64 {
        let per_image: u64 = if self.kaggle_sizes { 120_000 } else { 40_000 };
        2 * self.per_class as u64 * per_image
    }
}

/// What [`sample`] wrote.
#[derive(Clone, Debug)]
pub struct SampleReport {
    /// The zip file.
    pub path: PathBuf,
    /// The number of images in it.
    pub images: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Writes the synthetic sample to `out_zip` (atomically), laid out like Kaggle's `train.zip`:
/// `train/cat.0.jpg` ... `train/dog.N.jpg`. An existing file there is refused unless
/// `options.force`; a sample that cannot fit the disk is refused before it starts; Ctrl-C (see
/// [`crate::interrupt`]) stops it and leaves nothing behind.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let options = catsdogs::data::SampleOptions { per_class: 5, ..Default::default() };
/// let report = catsdogs::data::sample(&dir.path().join("train.zip"), &options).unwrap();
/// assert_eq!(report.images, 10);
/// ```
pub fn sample(out_zip: &Path, options: &SampleOptions) -> Result<SampleReport> {
    if options.per_class == 0 || options.per_class > MAX_PER_CLASS {
        return Err(Error::PerClass {
            given: options.per_class,
            max: MAX_PER_CLASS,
        });
    }
    if out_zip.exists() && !options.force {
        return Err(Error::invalid(
            out_zip,
            "exists already: choose another file, or pass --force (SampleOptions::force) to replace it",
        ));
    }
    let needed = options.max_bytes();
    if let Some(free) = available_space(out_zip) {
        if free < needed {
            return Err(Error::invalid(
                out_zip,
                format!(
                    "the sample may take up to {} but the disk has {} free: give a smaller --per-class (SampleOptions::per_class), or write it to another disk",
                    human_bytes(needed),
                    human_bytes(free),
                ),
            ));
        }
    }
    let total = 2 * options.per_class;
    let progress = Progress::new(total as u64);
    let entry_options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default());
    let file = QuietAfterFailure {
        file: AtomicFile::create(out_zip)?,
        failed: false,
        position: 0,
        length: 0,
    };
    let failed = |e: zip::result::ZipError| match e {
        zip::result::ZipError::Io(e) => Error::write(out_zip, e),
        other => Error::write(out_zip, std::io::Error::other(other)),
    };
    let mut zip = ZipWriter::new(file);
    zip.set_comment(SYNTHETIC_TEXT.trim_end());
    zip.start_file("train/SYNTHETIC.txt", entry_options)
        .map_err(failed)?;
    zip.write_all(SYNTHETIC_TEXT.as_bytes())
        .map_err(|e| Error::write(out_zip, e))?;
    let jobs: Vec<(usize, usize)> = (0..2)
        .flat_map(|class| (0..options.per_class).map(move |i| (class, i)))
        .collect();
    for (done, chunk) in jobs.chunks(512).enumerate() {
        crate::interrupt::check(|| format!("while drawing the sample {}", out_zip.display()))?;
        let jpegs: Vec<Vec<u8>> = chunk
            .par_iter()
            .map(|&(class, index)| encode(&draw(class, index, options)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::write(out_zip, e))?;
        for (&(class, index), jpeg) in chunk.iter().zip(&jpegs) {
            let name = ["cat", "dog"][class];
            zip.start_file(format!("train/{name}.{index}.jpg"), entry_options)
                .map_err(failed)?;
            zip.write_all(jpeg).map_err(|e| Error::write(out_zip, e))?;
        }
        progress.set(((done + 1) * 512).min(total) as u64, "");
    }
    let QuietAfterFailure { file, .. } = zip.finish().map_err(failed)?;
    if options.force {
        file.commit()?;
    } else {
        file.commit_new()?;
    }
    progress.finish("images drawn");
    let bytes = std::fs::metadata(out_zip)
        .map_err(|e| Error::read(out_zip, e))?
        .len();
    Ok(SampleReport {
        path: out_zip.to_path_buf(),
        images: total,
        bytes,
    })
}

/// The zip's file, which goes quiet after its first failed write: the zip writer, dropped on
/// the way out of an error, then finishes into nothing (positions are still counted, as it
/// checks them) instead of printing its own complaint; the temporary file goes with the
/// [`AtomicFile`].
struct QuietAfterFailure {
    file: AtomicFile,
    failed: bool,
    /// Where the writer is, and the file's length, as it believes them.
    position: u64,
    length: u64,
}

impl Write for QuietAfterFailure {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = if self.failed {
            buf.len()
        } else {
            self.file.write(buf).inspect_err(|_| self.failed = true)?
        };
        self.position += written as u64;
        self.length = self.length.max(self.position);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.failed {
            return Ok(());
        }
        self.file.flush().inspect_err(|_| self.failed = true)
    }
}

impl std::io::Seek for QuietAfterFailure {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        if !self.failed {
            self.position = self.file.seek(to).inspect_err(|_| self.failed = true)?;
            return Ok(self.position);
        }
        let (base, offset) = match to {
            std::io::SeekFrom::Start(at) => (at, 0),
            std::io::SeekFrom::Current(offset) => (self.position, offset),
            std::io::SeekFrom::End(offset) => (self.length, offset),
        };
        self.position = base.saturating_add_signed(offset);
        Ok(self.position)
    }
}

/// Encodes with libjpeg (mozjpeg's library with libjpeg-turbo's fastest defaults: baseline,
/// 4:2:0), which is compiled C and so fast even in the tests' unoptimised builds.
fn encode(image: &RgbImage) -> std::io::Result<Vec<u8>> {
    let (width, height) = image.dimensions();
    catch_unwind(AssertUnwindSafe(|| {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_size(width as usize, height as usize);
        compress.set_fastest_defaults();
        compress.set_quality(90.0);
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(image.as_raw())?;
        started.finish()
    }))
    .unwrap_or_else(|_| Err(std::io::Error::other("libjpeg could not encode an image")))
}

/// Draws image `index` of `class` (0 cat, 1 dog). Each row is copied from noisy textures (the
/// background, darker for a dog's stripes, and the face), face spans over the background, at an
/// offset that shifts from row to row: memory copies, fast even without optimisation.
fn draw(class: usize, index: usize, options: &SampleOptions) -> RgbImage {
    let mut rng = Rng::new(options.seed, ((class as u64) << 32) | index as u64);
    let (width, height) = if options.kaggle_sizes {
        let width = if rng.unit() < 0.6 {
            500
        } else {
            rng.between(250, 499)
        };
        let height = if rng.unit() < 0.5 {
            375
        } else {
            rng.between(250, 500)
        };
        (width, height)
    } else {
        (rng.between(80, 320), rng.between(80, 320))
    };
    // The class whose colours and background the image gets: its own, or with `hard`
    // sometimes the other's.
    let painted = if options.hard && rng.unit() < HARD_SWAP {
        1 - class
    } else {
        class
    };
    let mut pick = |low: u32, high: u32| rng.between(low, high) as u8;
    let (background, face) = if painted == 0 {
        (
            [pick(200, 250), pick(110, 160), pick(30, 70)],
            [pick(60, 100), pick(35, 60), pick(15, 35)],
        )
    } else {
        (
            [pick(30, 80), pick(100, 150), pick(180, 240)],
            [pick(230, 255), pick(225, 250), pick(200, 230)],
        )
    };
    let (w, h) = (width as f32, height as f32);
    let cx = w * (0.35 + 0.3 * rng.unit() as f32);
    let cy = h * (0.45 + 0.2 * rng.unit() as f32);
    let r = w.min(h) * (0.2 + 0.1 * rng.unit() as f32);
    let stripe = rng.between(10, 24);
    const SHIFTS: usize = 1021;
    let row_len = width as usize * 3;
    let mut texture = |colour: [u8; 3]| -> Vec<u8> {
        (0..row_len + SHIFTS)
            .map(|i| (colour[i % 3].saturating_sub(15)).saturating_add(rng.below(31) as u8))
            .collect()
    };
    let plain = texture(background);
    let dark = texture(background.map(|c| (f32::from(c) * 0.8) as u8));
    let face = texture(face);
    let mut pixels = vec![0u8; row_len * height as usize];
    for (y, row) in pixels.chunks_exact_mut(row_len).enumerate() {
        let shift = (y * 7919 % SHIFTS) / 3 * 3;
        let striped = painted == 1 && (y as u32 / stripe) % 2 == 1;
        let background = if striped { &dark } else { &plain };
        row.copy_from_slice(&background[shift..shift + row_len]);
        for (from, to) in face_spans(class, y as f32 - cy, r) {
            let from = (cx + from).clamp(0.0, w) as usize * 3;
            let to = ((cx + to).clamp(0.0, w) as usize * 3).max(from);
            row[from..to].copy_from_slice(&face[shift + from..shift + to]);
        }
    }
    RgbImage::from_raw(width, height, pixels).expect("width * height * 3 values")
}

/// The horizontal spans (relative to the face's centre) that the face covers at height `dy`
/// from its centre: for a cat a disc and two pointed ears above it, for a dog a square and two
/// floppy ears at its sides. Empty spans are `(0, 0)`.
fn face_spans(class: usize, dy: f32, r: f32) -> [(f32, f32); 3] {
    const NONE: (f32, f32) = (0.0, 0.0);
    if class == 0 {
        let disc = if dy.abs() < r {
            let half = (r * r - dy * dy).sqrt();
            (-half, half)
        } else {
            NONE
        };
        // Ears: triangles from a base 0.7r wide at dy = -0.5r up to a point at dy = -1.45r.
        let (top, base) = (-1.45 * r, -0.5 * r);
        if dy > top && dy < base {
            let half = 0.35 * r * (dy - top) / (base - top);
            [
                disc,
                (0.55 * r - half, 0.55 * r + half),
                (-0.55 * r - half, -0.55 * r + half),
            ]
        } else {
            [disc, NONE, NONE]
        }
    } else {
        let square = if dy.abs() < r { (-r, r) } else { NONE };
        if dy > -0.9 * r && dy < 0.7 * r {
            [square, (r, 1.4 * r), (-1.4 * r, -r)]
        } else {
            [square, NONE, NONE]
        }
    }
}
