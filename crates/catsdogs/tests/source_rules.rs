//! Rules of the source that keep promises the tests cannot check one call at a time, read from
//! the crates' own files.

use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The crates' source folders: this crate's and the command's.
fn sources() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    ["catsdogs/src", "catsdogs-cli/src"]
        .iter()
        .flat_map(|dir| rust_files(&crates.join(dir)))
        .collect()
}

/// Every file that any command writes goes through `fsutil`'s one atomic write: no other
/// module creates, copies or writes a file's content itself.
#[test]
fn every_file_is_written_through_the_atomic_write() {
    let forbidden = [
        "fs::write(",
        "File::create(",
        "fs::copy(",
        ".write_npy(",
        "save_safetensors(",
        "write_safetensors(",
    ];
    let mut found = Vec::new();
    for file in sources() {
        if file.ends_with("fsutil.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            let called = |f: &&str| {
                line.match_indices(*f).any(|(at, _)| {
                    let before = line[..at].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            };
            if let Some(call) = forbidden.iter().find(|f| called(f)) {
                found.push(format!("{}:{}: {call}", file.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "write through catsdogs::fsutil instead:\n{}",
        found.join("\n")
    );
}
