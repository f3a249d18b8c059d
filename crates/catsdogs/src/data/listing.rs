//! Which files `flow_from_directory` reads, in which order, with which labels: Keras's rules.
//!
//! - Classes are the sub-folders of the directory, sorted by name; class `i` gets label `i`.
//!   Unlike Keras, hidden folders (a name starting with `.`, such as `.ipynb_checkpoints` or
//!   an editor's `.trash`) are skipped, at every depth.
//! - Within a class folder, files are gathered recursively: folders in the sorted order of their
//!   paths, files in plain string order within each (`cat.1`, `cat.10`, `cat.2`). Links to
//!   folders are not followed, as in Keras's default.
//! - Files ending in png, jpg, jpeg, bmp, ppm, tif or tiff (any case) are kept, others skipped.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! for f in ["dogs/dog.1.jpg", "cats/cat.10.jpg", "cats/cat.2.JPG", "cats/notes.txt"] {
//!     let path = dir.path().join(f);
//!     std::fs::create_dir_all(path.parent().unwrap()).unwrap();
//!     std::fs::write(path, b"").unwrap();
//! }
//! let list = catsdogs::data::list_images(dir.path()).unwrap();
//! assert_eq!(list.filenames, ["cats/cat.10.jpg", "cats/cat.2.JPG", "dogs/dog.1.jpg"]);
//! assert_eq!(list.classes, [0, 0, 1]);
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use super::error::DataError;

/// The file extensions that Keras's `flow_from_directory` reads.
pub const WHITE_LIST_FORMATS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"];

/// The images of a directory of class folders, in Keras's order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageList {
    /// Class folder name to label, e.g. `{"cats": 0, "dogs": 1}`.
    pub class_indices: BTreeMap<String, u32>,
    /// Image paths relative to the directory, e.g. `cats/cat.1.jpg`.
    pub filenames: Vec<String>,
    /// The label of each image.
    pub classes: Vec<u32>,
}

impl ImageList {
    /// The listing as JSON: `class_indices`, then `files`, each `{"file": ..., "class": ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let files: Vec<_> = self
            .filenames
            .iter()
            .zip(&self.classes)
            .map(|(file, class)| serde_json::json!({ "file": file, "class": class }))
            .collect();
        serde_json::json!({ "class_indices": self.class_indices, "files": files })
    }
}

/// Whether `name` ends in one of [`WHITE_LIST_FORMATS`], as Keras tests it.
pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    WHITE_LIST_FORMATS
        .iter()
        .any(|ext| lower.ends_with(&format!(".{ext}")))
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Lists the images of `dir` as Keras's `flow_from_directory` would (see the module's notes).
pub fn list_images(dir: &Path) -> Result<ImageList, DataError> {
    if !dir.exists() {
        return Err(DataError::Missing {
            path: dir.display().to_string(),
            hint: "run `catsdogs split` first, or check the path",
        });
    }
    if !dir.is_dir() {
        return Err(DataError::invalid(
            dir,
            "is a file, not a folder of class folders: give the folder that holds cats/ and dogs/",
        ));
    }
    let mut class_names: Vec<String> = read_dir_names(dir)?
        .into_iter()
        .filter(|name| !is_hidden(name) && dir.join(name).is_dir())
        .collect();
    class_names.sort();
    if class_names.is_empty() {
        return Err(DataError::NoClasses {
            path: dir.display().to_string(),
        });
    }
    let mut list = ImageList {
        class_indices: BTreeMap::new(),
        filenames: Vec::new(),
        classes: Vec::new(),
    };
    for (label, class) in (0u32..).zip(&class_names) {
        list.class_indices.insert(class.clone(), label);
        let mut folders = Vec::new();
        walk(dir, class, &mut folders)?;
        folders.sort();
        let before = list.filenames.len();
        for (folder, mut files) in folders {
            files.sort();
            list.filenames
                .extend(files.into_iter().map(|f| format!("{folder}/{f}")));
        }
        if list.filenames.len() == before {
            return Err(DataError::EmptyClass {
                path: dir.join(class).display().to_string(),
            });
        }
        list.classes.resize(list.filenames.len(), label);
    }
    Ok(list)
}

/// Collects `(folder, image files)` for `root/folder` and every non-hidden folder below it.
fn walk(root: &Path, folder: &str, out: &mut Vec<(String, Vec<String>)>) -> Result<(), DataError> {
    let path = root.join(folder);
    let mut files = Vec::new();
    for name in read_dir_names(&path)? {
        let child = path.join(&name);
        let is_link = child.symlink_metadata().is_ok_and(|m| m.is_symlink());
        if child.is_dir() {
            if !is_hidden(&name) && !is_link {
                walk(root, &format!("{folder}/{name}"), out)?;
            }
        } else if is_image_name(&name) {
            files.push(name);
        }
    }
    out.push((folder.to_string(), files));
    Ok(())
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::read(dir, e))?;
    entries
        .map(|entry| {
            entry
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .map_err(|e| DataError::read(dir, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_matched_case_insensitively() {
        for name in [
            "a.jpg", "a.JPEG", "a.Png", "a.bmp", "a.ppm", "a.tif", "a.TIFF",
        ] {
            assert!(is_image_name(name), "{name}");
        }
        for name in ["a.gif", "a.webp", "jpg", "a.jpg.txt"] {
            assert!(!is_image_name(name), "{name}");
        }
    }
}
