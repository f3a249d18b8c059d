//! Kaggle's submission: `test1.zip` holds 12,500 unlabelled images `test1/N.jpg`; the
//! competition wants `id,label` rows, `label` being the probability of a dog, sorted by id.
//!
//! The zip is read directly. Images are decoded in parallel a batch at a time, resized and
//! preprocessed exactly as the flows do, and predicted on the model's device; a progress bar
//! counts the images. The CSV is written atomically.
//!
//! ```no_run
//! use catsdogs::experiments::load_trained;
//! let model = load_trained("runs/frozen".as_ref(), None)?;
//! let report = catsdogs::train::submit::submit(&model, "test1.zip".as_ref(), "submission.csv".as_ref(), 50)?;
//! println!("{} rows", report.rows);
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use zip::ZipArchive;

use super::predict::probabilities;
use super::predict::{input_size, pixels_to_batch};
use crate::data::{decode_rgb, is_image_name};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::Model;
use crate::progress::Progress;

/// What [`submit`] wrote.
#[derive(Debug)]
pub struct SubmitReport {
    /// The CSV file.
    pub out: PathBuf,
    /// Rows written (one per image).
    pub rows: usize,
    /// Zip entries left out because they are not images named `N.<ext>` in the zip's top
    /// folder.
    pub skipped: Vec<String>,
}

/// The id of a zip entry named `N.jpg` or `<folder>/N.jpg` (any image extension), if it is
/// one: `N` written as Kaggle writes ids (no sign, no leading zero), so that no two names give
/// the same id; entries in deeper folders are not Kaggle's.
fn entry_id(name: &str) -> Option<u64> {
    let file = match name.split('/').collect::<Vec<_>>()[..] {
        [file] | [_, file] => file,
        _ => return None,
    };
    if !is_image_name(file) {
        return None;
    }
    let stem = file.split_once('.')?.0;
    let id: u64 = stem.parse().ok()?;
    (id.to_string() == stem).then_some(id)
}

/// Predicts every image `N.jpg` of `test_zip` with `model`, preprocessed and computed as the
/// model says, and
/// writes Kaggle's `id,label` CSV to `out`, sorted by id, `batch_size` images at a time.
pub fn submit(
    model: &Model,
    test_zip: &Path,
    out: &Path,
    batch_size: usize,
) -> Result<SubmitReport> {
    let compute = model.compute()?;
    let preprocess = model.preprocess();
    crate::data::check_batch_size(batch_size)?;
    let file = crate::fsutil::open_file(test_zip)?;
    let invalid = |why: String| Error::Invalid {
        path: test_zip.to_path_buf(),
        why,
    };
    let mut zip = ZipArchive::new(file)
        .map_err(|e| invalid(format!("not a zip file ({e}); download test1.zip again")))?;
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for index in 0..zip.len() {
        let name = zip.name_for_index(index).unwrap_or_default().to_string();
        match entry_id(&name) {
            Some(id) => entries.push((id, index, name)),
            None if name.ends_with('/') => {}
            None => skipped.push(name),
        }
    }
    if entries.is_empty() {
        return Err(invalid(
            "it holds no images named N.jpg; pass Kaggle's test1.zip".into(),
        ));
    }
    entries.sort();
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(invalid(format!(
            "it holds two images with id {} ({} and {}); keep one of them",
            pair[0].0, pair[0].2, pair[1].2
        )));
    }
    let target_size = input_size(model)?;
    let image_len = (target_size.0 * target_size.1 * 3) as usize;
    let progress = Progress::new(entries.len() as u64);
    let mut csv = String::from("id,label\n");
    for chunk in entries.chunks(batch_size) {
        crate::interrupt::check(|| "while predicting for the submission".into())?;
        let mut compressed = Vec::with_capacity(chunk.len());
        for (_, index, name) in chunk {
            let bytes = zip
                .by_index(*index)
                .map_err(std::io::Error::other)
                .and_then(crate::data::read_bounded)
                .map_err(|e| invalid(format!("cannot read {name}: {e}")))?;
            compressed.push((name, bytes));
        }
        let mut pixels = vec![0u8; chunk.len() * image_len];
        pixels
            .par_chunks_mut(image_len)
            .zip(&compressed)
            .try_for_each(|(out, (name, bytes))| -> Result<()> {
                let image = decode_rgb(bytes, Path::new(name.as_str()))?;
                crate::data::resize_nearest_into(&image, target_size.1, target_size.0, out);
                Ok(())
            })?;
        let x = pixels_to_batch(&pixels, target_size, preprocess)?;
        let name = |i: usize| format!("{} of {}", chunk[i].2, test_zip.display());
        let p = probabilities(model, &x, batch_size, compute, &name)?;
        for (i, (id, _, _)) in chunk.iter().enumerate() {
            csv.push_str(&format!("{id},{}\n", p.f_double_value(&[i as i64])? as f32));
        }
        progress.inc(chunk.len() as u64, "");
    }
    write_atomic(out, csv.as_bytes())?;
    progress.finish(&format!(
        "wrote {} rows to {}",
        entries.len(),
        out.display()
    ));
    Ok(SubmitReport {
        out: out.to_path_buf(),
        rows: entries.len(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::entry_id;

    #[test]
    fn ids_come_from_kaggle_names() {
        assert_eq!(entry_id("test1/12500.jpg"), Some(12500));
        assert_eq!(entry_id("7.JPG"), Some(7));
        assert_eq!(entry_id("test1/"), None);
        assert_eq!(entry_id("test1/cat.1.jpg"), None);
        assert_eq!(entry_id("test1/notes.txt"), None);
        assert_eq!(entry_id("test1/01.jpg"), None, "01 would collide with 1");
        assert_eq!(entry_id("test1/+1.jpg"), None);
        assert_eq!(entry_id("test1/extra/5.jpg"), None, "not in the top folder");
    }
}
