//! The split's output folder: refusing an output that holds the input, deciding what a previous
//! split there means (nothing to do, refuse, or replace), replacing only the files that a
//! previous split wrote, and placing each image once.
//!
//! What a split writes is recorded before it writes it: the manifest-to-be goes to
//! [`PENDING_FILE`] first and becomes `manifest.json` when every image is in place. So a split
//! interrupted at any point still says which files are its own (with the temporary files of
//! the images it was writing), and `force` removes exactly those, never a file that the user
//! put there. An earlier split is removed before anything new is written, so that a split that
//! filled the disk can be replaced; a split that fails or is stopped removes what it wrote.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::super::manifest::{Manifest, ManifestFile, SplitSettings, MANIFEST_FILE, PENDING_FILE};
use super::input::{Entry, Input, Reader};
use super::SPLITS;
use crate::error::{Error, Result};
use crate::fsutil::{remove_stale_temporaries, resolve, temporary_target, AtomicFile};
use crate::hashing::sha256_hex;

/// Refuses an output folder that is the input or holds it: replacing a split there could reach
/// the input. (An output inside an input folder is fine: the listing leaves it out.)
pub(super) fn refuse_overlap(source: &Path, out: &Path) -> Result<()> {
    let (source_at, out_at) = (resolve(source), resolve(out));
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
    let force_hint =
        "pass --force (SplitOptions::force) to replace it, or choose another output folder";
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
                // A temporary file of one of our images, left by a split that was killed.
                let temporary = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(temporary_target)
                    .is_some_and(|target| ours.contains(&dir.join(target)));
                if meta.is_dir() {
                    stack.push(path);
                } else if !ours.contains(&path) && !temporary {
                    foreign.push(path);
                }
            }
        }
        if let Some(first) = foreign.first() {
            return Err(Error::invalid(
                &out.join(split),
                format!(
                    "holds {} file(s) that no split wrote, such as {}: move them away or choose another output folder (--force, or SplitOptions::force, replaces only what a previous split wrote)",
                    foreign.len(),
                    first.display(),
                ),
            ));
        }
    }
    Ok(())
}

/// Clears the way for a new split: marks the output as a split in progress (the earlier
/// manifest becomes the pending one, by a rename, which needs no room on a full disk), then
/// removes what earlier splits wrote (see [`remove_written`]) and their manifest. Afterwards
/// only the pending manifest of the earlier split is left, until the new one replaces it.
pub(super) fn clear_earlier(out: &Path, earlier: &[ManifestFile]) -> Result<()> {
    let (finished, pending) = (out.join(MANIFEST_FILE), out.join(PENDING_FILE));
    if finished.exists() && !pending.exists() {
        std::fs::rename(&finished, &pending).map_err(|e| Error::write(&pending, e))?;
    }
    remove_written(out, earlier)?;
    match std::fs::remove_file(&finished) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::write(&finished, e)),
        _ => Ok(()),
    }
}

/// Removes what a split failed or was stopped in the middle of writing: its images and their
/// temporary files, then its pending manifest, so that the output is as the split found it
/// (less the earlier split it replaced). The error that stopped it is returned.
pub(super) fn undo(out: &Path, files: &[ManifestFile], why: Error) -> Error {
    if remove_written(out, files).is_ok() {
        let _ = std::fs::remove_file(out.join(PENDING_FILE));
    }
    why
}

/// Removes the files of a split that are still as it wrote them (same size and SHA-256; a link
/// that leads nowhere, as splits of linked folders once made, holds nothing and goes too), the
/// temporary files of its images, then the split folders it leaves empty.
pub(super) fn remove_written(out: &Path, files: &[ManifestFile]) -> Result<()> {
    let ours: BTreeSet<PathBuf> = files.iter().map(|f| out.join(&f.file)).collect();
    let folders: BTreeSet<&Path> = ours.iter().filter_map(|p| p.parent()).collect();
    for folder in folders {
        remove_stale_temporaries(folder, |target| ours.contains(&folder.join(target)));
    }
    for (file, path) in files.iter().zip(files.iter().map(|f| out.join(&f.file))) {
        let Ok(meta) = path.symlink_metadata() else {
            continue; // never written, or gone already
        };
        let as_written = match std::fs::read(&path) {
            Ok(bytes) => bytes.len() as u64 == file.size && sha256_hex(&bytes) == file.sha256,
            Err(_) => meta.is_symlink(),
        };
        if as_written {
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

/// Puts one image at `dest`, which must not exist: from a folder, its file (the file a link
/// leads to, not the link) hard-linked, or copied when the link fails (across file systems);
/// from a zip, written once. Copies and writes are atomic (see [`AtomicFile`]; the split
/// removes stale temporary files itself, see [`remove_written`]).
pub(super) fn place(input: &Input, reader: &mut Reader, entry: &Entry, dest: &Path) -> Result<()> {
    if let Some(path) = input.file_of(entry) {
        let file = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if std::fs::hard_link(file, dest).is_ok() {
            return Ok(());
        }
    }
    let bytes = input.read(reader, entry)?;
    let mut file = AtomicFile::create_unswept(dest)?;
    std::io::Write::write_all(&mut file, &bytes).map_err(|e| file.error(e))?;
    file.commit_new()
}
