//! The tutorial's split of Kaggle's `train.zip` (25,000 `cat.N.jpg` and `dog.N.jpg`) into
//! `train/`, `validation/` and `test/` folders of `cats/` and `dogs/`: 16,000, 4,500 and 4,500
//! images by default, half of each class in each.
//!
//! - The zip is read directly (or an extracted folder, whose files are hard-linked, or copied
//!   across file systems): each image is written once, straight to its place.
//! - Every image is decoded once to check it; unreadable and non-image entries, entries not
//!   named `cat.*`/`dog.*`, duplicates, and zip entries whose path would leave the output folder
//!   are left out and listed with the reason in the manifest. They never stop the run.
//! - The split is deterministic: per class, images are sorted by number, shuffled with the seed,
//!   and dealt to train, validation and test in that order.
//! - A re-run on the same input with the same options does nothing. A changed input, or other
//!   options, is reported and refused unless `force` is set, which replaces the earlier split:
//!   only the files that it wrote, as its manifest records them, never anything else.
//! - An output folder that is the input or holds it, or that is inside another split's
//!   folders, is refused before anything is touched.
//! - The files of an extracted folder may be links (relative ones too): the file a link leads
//!   to is hard-linked (or copied), never the link.
//! - With `all`, every image goes to train or validation (validation keeps its size), for the
//!   tutorial's "retrain with the additional 9,000 images".
//! - The manifest is written last, atomically; until then a pending manifest says what the split
//!   is writing, so that no reader takes it for a finished split, and a split killed midway can
//!   be replaced with `force` (which first removes what it wrote, temporary files included, so
//!   that it works on a disk that the killed split filled). Ctrl-C, or a failure, stops the
//!   split and removes what it wrote.
//!
//! The work runs in phases, one function each: open the input (`input`), decide what the
//! output folder allows (`output`), sort the entries, check the images and deal them out
//! (`deal`), and write.

mod deal;
mod input;
mod output;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use self::deal::{basename, check_images, deal, sort_entries, Placement};
use self::input::{Entry, Input};
use self::output::Plan;
use super::manifest::{Manifest, ManifestFile, SplitSettings, PENDING_FILE};
use crate::error::{Error, Result};

pub use super::manifest::SPLITS;

/// The class folders, in label order.
pub const CLASSES: [&str; 2] = ["cats", "dogs"];
/// The name of the note that marks the synthetic sample.
pub const SYNTHETIC_NOTE: &str = "SYNTHETIC.txt";
const MANIFEST_FORMAT: &str = "catsdogs split manifest 1";

/// How to split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    /// Training images, both classes together (default 16,000).
    pub train: usize,
    /// Validation images (default 4,500).
    pub validation: usize,
    /// Test images (default 4,500).
    pub test: usize,
    /// The seed of the shuffle (default 0).
    pub seed: u64,
    /// Every image goes to train or validation: the validation size is kept, train takes the
    /// rest, and there is no test folder.
    pub all: bool,
    /// Replace an existing split made from another input or with other options.
    pub force: bool,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            train: 16_000,
            validation: 4_500,
            test: 4_500,
            seed: 0,
            all: false,
            force: false,
        }
    }
}

impl SplitOptions {
    /// The tutorial's options with other sizes, e.g. `SplitOptions::sizes(400, 100, 100)` for
    /// the 600 images of the built-in sample.
    pub fn sizes(train: usize, validation: usize, test: usize) -> Self {
        SplitOptions {
            train,
            validation,
            test,
            ..SplitOptions::default()
        }
    }

    fn settings(&self) -> SplitSettings {
        SplitSettings {
            train: if self.all { 0 } else { self.train },
            validation: self.validation,
            test: if self.all { 0 } else { self.test },
            seed: self.seed,
            all: self.all,
        }
    }
}

/// What a split did.
#[derive(Clone, Debug)]
pub struct SplitReport {
    /// The output folder.
    pub out: PathBuf,
    /// True when the output already held this split and nothing was written.
    pub unchanged: bool,
    /// The manifest (also at `<out>/manifest.json`).
    pub manifest: Manifest,
}

impl SplitReport {
    /// The number of images of `class` in `split`.
    pub fn count(&self, split: &str, class: &str) -> usize {
        self.manifest
            .files
            .iter()
            .filter(|f| f.split == split && f.class == class)
            .count()
    }
}

impl fmt::Display for SplitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unchanged {
            writeln!(
                f,
                "{} already holds this split of {} (its manifest matches): nothing to do.",
                self.out.display(),
                self.manifest.source
            )?;
        }
        for split in SPLITS {
            let counts: Vec<String> = CLASSES
                .iter()
                .map(|class| format!("{} {class}", self.count(split, class)))
                .collect();
            writeln!(f, "{split}: {}", counts.join(", "))?;
        }
        if !self.manifest.skipped.is_empty() {
            writeln!(
                f,
                "{} entries left out (reasons in {}):",
                self.manifest.skipped.len(),
                self.out.join(super::manifest::MANIFEST_FILE).display()
            )?;
            for skipped in self.manifest.skipped.iter().take(5) {
                writeln!(f, "  {}: {}", skipped.entry, skipped.reason)?;
            }
        }
        if self.manifest.synthetic {
            writeln!(f, "This is the synthetic sample, not Kaggle's photos.")?;
        }
        Ok(())
    }
}

/// Splits `source` (Kaggle's `train.zip` or the folder it unpacks to) into
/// `<out>/{train,validation,test}/{cats,dogs}/` plus `<out>/manifest.json`; see the module's
/// notes.
///
/// ```no_run
/// use catsdogs::data::{split, SplitOptions};
/// let report = split("train.zip".as_ref(), "data".as_ref(), &SplitOptions::default())?;
/// print!("{report}");
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn split(source: &Path, out: &Path, options: &SplitOptions) -> Result<SplitReport> {
    let settings = options.settings();
    if !options.all && settings.train + settings.validation + settings.test == 0 {
        return Err(Error::EmptySplit);
    }
    output::refuse_overlap(source, out)?;
    super::manifest::refuse_output_inside_split(out)?;
    let input = Input::open(source, out)?;
    let fingerprint = input.fingerprint();
    let earlier = match output::plan(source, out, &fingerprint, &settings, options.force, |m| {
        describe_change(m, &input.entries)
    })? {
        Plan::Unchanged(manifest) => {
            return Ok(SplitReport {
                out: out.to_path_buf(),
                unchanged: true,
                manifest,
            })
        }
        Plan::Write(earlier) => earlier,
    };
    let mut sorted = sort_entries(&input);
    let checked = check_images(&input, &sorted.candidates, source)?;
    let (plan, files) = deal(&mut sorted, &checked, options, source, out)?;

    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        synthetic: sorted.synthetic,
        source: source.display().to_string(),
        fingerprint,
        settings,
        files,
        skipped: sorted.skipped,
    };
    write(&input, out, &manifest, &earlier, &plan)?;
    Ok(SplitReport {
        out: out.to_path_buf(),
        unchanged: false,
        manifest,
    })
}

/// Writes the split: the earlier split's files out (see [`output::clear_earlier`]), the pending
/// manifest, each image once (in parallel, stopping at Ctrl-C), the synthetic note, and the
/// manifest last. A failure or a stop after the pending manifest removes what was written.
fn write(
    input: &Input,
    out: &Path,
    manifest: &Manifest,
    earlier: &[ManifestFile],
    plan: &[Placement],
) -> Result<()> {
    output::clear_earlier(out, earlier)?;
    manifest.write_to(&out.join(PENDING_FILE))?;
    let placed = (|| {
        // Only the folders that get images: an empty `test/` (with `all`, or a size of 0)
        // would read as a broken split to `flow_from_directory`.
        let folders: std::collections::BTreeSet<&Path> =
            plan.iter().filter_map(|(_, dest)| dest.parent()).collect();
        for dir in folders {
            std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
        }
        plan.par_iter()
            .map_init(
                || None,
                |reader, (entry, dest)| {
                    crate::interrupt::check(|| {
                        format!("while writing the split into {}", out.display())
                    })?;
                    output::place(input, reader, entry, dest)
                },
            )
            .collect::<Result<()>>()?;
        if manifest.synthetic {
            crate::fsutil::write_atomic(
                &out.join(SYNTHETIC_NOTE),
                super::sample::SYNTHETIC_TEXT.as_bytes(),
            )?;
        }
        manifest.write(out)
    })();
    placed.map_err(|e| output::undo(out, &manifest.files, e))?;
    let pending = out.join(PENDING_FILE);
    std::fs::remove_file(&pending).map_err(|e| Error::write(&pending, e))
}

/// "3 entries added, 1 removed, 2 changed in size" between a manifest and the current input.
fn describe_change(previous: &Manifest, entries: &[Entry]) -> String {
    let before: BTreeMap<&str, u64> = previous
        .files
        .iter()
        .map(|f| (f.entry.as_str(), f.size))
        .chain(previous.skipped.iter().map(|s| (s.entry.as_str(), s.size)))
        .collect();
    let now: BTreeMap<&str, u64> = entries
        .iter()
        .filter(|e| basename(&e.name) != SYNTHETIC_NOTE)
        .map(|e| (e.name.as_str(), e.size))
        .collect();
    let added = now.keys().filter(|k| !before.contains_key(*k)).count();
    let removed = before.keys().filter(|k| !now.contains_key(*k)).count();
    let resized = now
        .iter()
        .filter(|(k, size)| before.get(*k).is_some_and(|b| b != *size))
        .count();
    if added + removed + resized == 0 {
        "same names and sizes, other content or dates".into()
    } else {
        format!("{added} entries added, {removed} removed, {resized} changed in size")
    }
}
