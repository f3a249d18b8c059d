//! The split's output folder: refusing an output that holds the input, deciding what a previous
//! split there means (nothing to do, refuse, or replace), replacing only the files that a
//! previous split wrote, and placing each image once.
//!
//! What a split writes is recorded before it writes it: the manifest-to-be goes to
//! [`PENDING_FILE`] first and becomes `manifest.json` when every image is in place. So a split
//! interrupted at any point still says which files are its own, and `force` removes exactly
//! those, never a file that the user put there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::super::manifest::{Manifest, ManifestFile, SplitSettings};
use super::input::{Entry, Input, Reader};
use super::SPLITS;
use crate::console::hint;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::hashing::sha256_hex;

/// The manifest of a split in progress, written before its first image.
pub(crate) const PENDING_FILE: &str = ".manifest-in-progress.json";

/// `path` with every existing part resolved (links, `..`), the missing tail kept as given.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(found) = existing.canonicalize() {
            return missing.iter().rev().fold(found, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuses an output folder that is the input or holds it: replacing a split there could reach
/// the input. (An output inside an input folder is fine: the listing leaves it out.)
pub(super) fn refuse_overlap(source: &Path, out: &Path) -> Result<()> {
    let (source_at, out_at) = (resolved(source), resolved(out));
    if !source_at.starts_with(&out_at) {
        return Ok(());
    }
    let sibling = source_at.with_file_name("split");
    let suggestion = if sibling.starts_with(&source_at) {
        source_at.with_file_name(format!(
            "{}-split",
            source_at.file_name().unwrap_or_default().to_string_lossy()
        ))
    } else {
        sibling
    };
    Err(Error::invalid(
        out,
        format!(
            "holds the input {} itself, so the split could overwrite or delete it: write the split to a folder outside the input, such as {}",
            source.display(),
            suggestion.display()
        ),
    ))
}

/// What to do with the output folder.
pub(super) enum Plan {
    /// It already holds this split.
    Unchanged(Manifest),
    /// Write the split, first removing these files of an earlier split (if any).
    Write(Vec<ManifestFile>),
}

/// Decides, before anything is touched, what the output folder allows: see [`Plan`].
pub(super) fn plan(
    source: &Path,
    out: &Path,
    fingerprint: &str,
    settings: &SplitSettings,
    force: bool,
    describe_change: impl FnOnce(&Manifest) -> String,
) -> Result<Plan> {
    let previous = Manifest::read(out)?;
    let pending = Manifest::read_from(&out.join(PENDING_FILE))?;
    let force_hint = format!(
        "pass {} to replace it, or choose another output folder",
        hint("--force", "SplitOptions::force")
    );
    let mut ours = Vec::new();
    if let Some(previous) = previous {
        let same_input = previous.fingerprint == fingerprint;
        let same_settings = previous.settings == *settings;
        if pending.is_none() && same_input && same_settings && files_present(out, &previous) {
            return Ok(Plan::Unchanged(previous));
        }
        if !force && !same_input {
            return Err(Error::invalid(
                out,
                format!(
                    "was split from another input than {} ({}): {force_hint}",
                    source.display(),
                    describe_change(&previous)
                ),
            ));
        }
        if !force && !same_settings {
            return Err(Error::invalid(
                out,
                format!(
                    "was split with other options ({}, now {settings}): {force_hint}",
                    previous.settings
                ),
            ));
        }
        ours.extend(previous.files);
    }
    if let Some(pending) = pending {
        if !force {
            return Err(Error::invalid(
                out,
                format!("holds a split that was interrupted before it finished: {force_hint}"),
            ));
        }
        ours.extend(pending.files);
    } else if ours.is_empty() && !force {
        if let Some(existing) = SPLITS.iter().map(|s| out.join(s)).find(|p| p.exists()) {
            return Err(Error::invalid(
                &existing,
                format!("exists but there is no manifest.json beside it (an interrupted split?): {force_hint}"),
            ));
        }
    }
    refuse_foreign_files(out, &ours)?;
    Ok(Plan::Write(ours))
}

/// Whether every file of the manifest is in place with its size.
fn files_present(out: &Path, manifest: &Manifest) -> bool {
    manifest
        .files
        .iter()
        .all(|f| std::fs::metadata(out.join(&f.file)).is_ok_and(|m| m.len() == f.size))
}

/// Refuses split folders that hold files no split wrote: they would mix with the new split's
/// images, and `force` may not remove them.
fn refuse_foreign_files(out: &Path, ours: &[ManifestFile]) -> Result<()> {
    let ours: BTreeSet<PathBuf> = ours.iter().map(|f| out.join(&f.file)).collect();
    for split in SPLITS {
        let mut stack = vec![out.join(split)];
        let mut foreign = Vec::new();
        while let Some(dir) = stack.pop() {
            let Ok(items) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in items {
                let path = item.map_err(|e| Error::read(&dir, e))?.path();
                let meta = path.symlink_metadata().map_err(|e| Error::read(&path, e))?;
                if meta.is_dir() {
                    stack.push(path);
                } else if !ours.contains(&path) {
                    foreign.push(path);
                }
            }
        }
        if let Some(first) = foreign.first() {
            return Err(Error::invalid(
                &out.join(split),
                format!(
                    "holds {} file(s) that no split wrote, such as {}: move them away or choose another output folder ({} replaces only what a previous split wrote)",
                    foreign.len(),
                    first.display(),
                    hint("--force", "SplitOptions::force")
                ),
            ));
        }
    }
    Ok(())
}

/// Removes the files of an earlier split that are still as it wrote them (same size and
/// SHA-256), then the split folders it leaves empty.
pub(super) fn remove_earlier(out: &Path, files: &[ManifestFile]) -> Result<()> {
    for file in files {
        let path = out.join(&file.file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue; // never written, or gone already
        };
        if bytes.len() as u64 == file.size && sha256_hex(&bytes) == file.sha256 {
            std::fs::remove_file(&path).map_err(|e| Error::write(&path, e))?;
        }
    }
    for split in SPLITS {
        let dir = out.join(split);
        let Ok(classes) = std::fs::read_dir(&dir) else {
            continue;
        };
        for class in classes.flatten() {
            let _ = std::fs::remove_dir(class.path()); // only if empty
        }
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(())
}

/// Puts one image at `dest`, which must not exist: from a folder, hard-linked (or copied when
/// the link fails, across file systems); from a zip, written once. Copies and writes are atomic
/// (see [`AtomicFile`]).
pub(super) fn place(input: &Input, reader: &mut Reader, entry: &Entry, dest: &Path) -> Result<()> {
    if let Some(path) = input.file_of(entry) {
        if std::fs::hard_link(path, dest).is_ok() {
            return Ok(());
        }
    }
    let bytes = input
        .read(reader, entry)
        .map_err(|e| Error::read(Path::new(&entry.name), e))?;
    let mut file = AtomicFile::create(dest)?;
    std::io::Write::write_all(&mut file, &bytes).map_err(|e| file.error(e))?;
    file.commit_new()
}
