//! Which image goes where: the entries sorted out (notes, refused paths, other names,
//! duplicates, candidates), every candidate read, hashed and decoded to check it, and the valid
//! ones of each class sorted by number, shuffled with the seed and dealt out to the splits.

use std::collections::btree_map::Entry as Slot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::super::decode::decode_rgb;
use super::super::listing::is_image_name;
use super::super::manifest::{ManifestFile, SkippedEntry};
use super::super::rng::Rng;
use super::input::{Entry, Input};
use super::{SplitOptions, CLASSES, SPLITS, SYNTHETIC_NOTE};
use crate::error::{Error, Result};
use crate::hashing::sha256_hex;
use crate::progress::Progress;

/// The entries sorted out: candidate images with their class, the ones left out, and whether
/// the input says it is the synthetic sample.
pub(super) struct Sorted<'a> {
    pub(super) candidates: Vec<(usize, &'a Entry)>,
    pub(super) skipped: Vec<SkippedEntry>,
    pub(super) synthetic: bool,
}

/// Sorts the entries out: notes, refused paths, other names, duplicates, candidates.
pub(super) fn sort_entries(input: &Input) -> Sorted<'_> {
    let mut sorted = Sorted {
        candidates: Vec::new(),
        skipped: Vec::new(),
        synthetic: input.comment.contains("SYNTHETIC"),
    };
    let mut seen = BTreeMap::new();
    for entry in &input.entries {
        let base = basename(&entry.name);
        let skip = |reason: String| SkippedEntry {
            entry: entry.name.clone(),
            size: entry.size,
            reason,
        };
        if base == SYNTHETIC_NOTE {
            sorted.synthetic = true;
        } else if !entry.enclosed {
            sorted.skipped.push(skip(
                "refused: its path would leave the output folder".into(),
            ));
        } else if let Some(class) = class_of(base).filter(|_| is_image_name(base)) {
            match seen.entry(base.to_lowercase()) {
                Slot::Occupied(first) => {
                    sorted
                        .skipped
                        .push(skip(format!("duplicate of {}", first.get())));
                }
                Slot::Vacant(slot) => {
                    slot.insert(entry.name.clone());
                    sorted.candidates.push((class, entry));
                }
            }
        } else {
            sorted.skipped.push(skip(
                "not an image named cat.N or dog.N with a png, jpg, jpeg, bmp, ppm, tif or tiff extension".into(),
            ));
        }
    }
    sorted
}

/// Reads, hashes and decodes every candidate in parallel: its size and SHA-256, or why it is
/// left out. Ctrl-C (see [`crate::interrupt`]) stops it.
pub(super) fn check_images(
    input: &Input,
    candidates: &[(usize, &Entry)],
    source: &Path,
) -> Result<Vec<Result<(u64, String), Skip>>> {
    crate::say!(
        "Checking {} images of {}",
        candidates.len(),
        source.display()
    );
    let progress = Progress::new(candidates.len() as u64);
    let done = AtomicU64::new(0);
    let checked = candidates
        .par_iter()
        .map_init(
            || None,
            |reader, (_, entry)| {
                crate::interrupt::check(|| {
                    format!("while checking the images of {}", source.display())
                })?;
                let result = input
                    .read(reader, entry)
                    .map_err(Skip::Unreadable)
                    .and_then(|bytes| {
                        decode_rgb(&bytes, Path::new(&entry.name)).map_err(Skip::NotAnImage)?;
                        Ok((bytes.len() as u64, sha256_hex(&bytes)))
                    });
                progress.set(done.fetch_add(1, Ordering::Relaxed) + 1, "");
                Ok(result)
            },
        )
        .collect::<Result<_>>()?;
    progress.finish("checked");
    Ok(checked)
}

/// Why a candidate image is left out of the split: the manifest's reason.
#[derive(Debug, thiserror::Error)]
pub(super) enum Skip {
    /// Its bytes cannot be read.
    #[error("unreadable: {0}")]
    Unreadable(Error),
    /// It is not an image that Keras could load.
    #[error("{0}")]
    NotAnImage(Error),
}

/// An image of the input and the path it goes to.
pub(super) type Placement<'a> = (&'a Entry, PathBuf);

/// Per class: the valid images sorted by number, shuffled, dealt out to the splits. Returns
/// where each image goes and the manifest's files; the rest joins `sorted.skipped`.
pub(super) fn deal<'a>(
    sorted: &mut Sorted<'a>,
    checked: &[Result<(u64, String), Skip>],
    options: &SplitOptions,
    source: &Path,
    out: &Path,
) -> Result<(Vec<Placement<'a>>, Vec<ManifestFile>)> {
    let settings = options.settings();
    let mut files = Vec::new();
    let mut plan = Vec::new();
    for (class_index, class) in CLASSES.iter().enumerate() {
        let mut valid: Vec<(&Entry, u64, String)> = Vec::new();
        for ((c, entry), result) in sorted.candidates.iter().zip(checked) {
            if *c != class_index {
                continue;
            }
            match result {
                Ok((size, sha)) => valid.push((entry, *size, sha.clone())),
                Err(reason) => sorted.skipped.push(SkippedEntry {
                    entry: entry.name.clone(),
                    size: entry.size,
                    reason: reason.to_string(),
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
            return Err(Error::invalid(
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
            sorted.skipped.push(SkippedEntry {
                entry: entry.name.clone(),
                size: entry.size,
                reason: "not needed: the split sizes leave it out".into(),
            });
        }
    }
    files.sort_by(|a, b| {
        let rank = |f: &ManifestFile| SPLITS.iter().position(|s| *s == f.split);
        (rank(a), &a.class, sort_key(&a.file)).cmp(&(rank(b), &b.class, sort_key(&b.file)))
    });
    sorted
        .skipped
        .sort_by(|a, b| sort_key(&a.entry).cmp(&sort_key(&b.entry)));
    Ok((plan, files))
}

/// The file name of an entry path (either separator).
pub(super) fn basename(name: &str) -> &str {
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
pub(super) fn sort_key(name: &str) -> (&str, u64, &str) {
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
