//! Which files `flow_from_directory` reads, in which order, with which labels: Keras's rules.
//!
//! - Classes are the sub-folders of the directory, sorted by name; class `i` gets label `i`.
//!   Unlike Keras, hidden folders (a name starting with `.`, such as `.ipynb_checkpoints` or
//!   an editor's `.trash`) are skipped, at every depth.
//! - Within a class folder, files are gathered recursively: folders in the sorted order of their
//!   paths, files in plain string order within each (`cat.1`, `cat.10`, `cat.2`). Links to
//!   folders are not followed, as in Keras's default.
//! - Files whose lower-cased name ends in png, jpg, jpeg, bmp, ppm, tif or tiff are kept, others
//!   skipped: Keras's test, which does not ask for a dot (`photojpg` is kept).
//! - A class folder or image whose name is not valid UTF-8 is refused with its path: the caches
//!   and the manifests record names as text.
//! - A folder of a split that has not finished (interrupted, or still running) is refused.
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
use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::error::{Error, Result};

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

/// Whether `name` ends in one of [`WHITE_LIST_FORMATS`], as Keras tests it:
/// `fname.lower().endswith(white_list_formats)`, without a dot.
pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    WHITE_LIST_FORMATS.iter().any(|ext| lower.ends_with(ext))
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b".")
}

/// Lists the images of `dir` as Keras's `flow_from_directory` would (see the module's notes).
pub fn list_images(dir: &Path) -> Result<ImageList> {
    super::manifest::refuse_unfinished_split(dir)?;
    if !dir.exists() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            hint: "split the data first (`catsdogs split`, or notebook 00-prepare-data), or check the path",
        });
    }
    if !dir.is_dir() {
        return Err(Error::invalid(
            dir,
            "is a file, not a folder of class folders: give the folder that holds cats/ and dogs/",
        ));
    }
    let mut class_names: Vec<String> = read_dir_names(dir)?
        .into_iter()
        .filter(|name| !is_hidden(name) && dir.join(name).is_dir())
        .map(|name| utf8(dir, name))
        .collect::<Result<_, _>>()?;
    class_names.sort();
    if class_names.is_empty() {
        return Err(Error::NoClasses {
            path: dir.to_path_buf(),
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
            return Err(Error::EmptyClass {
                path: dir.join(class),
            });
        }
        list.classes.resize(list.filenames.len(), label);
    }
    Ok(list)
}

/// Collects `(folder, image files)` for `root/folder` and every non-hidden folder below it.
fn walk(root: &Path, folder: &str, out: &mut Vec<(String, Vec<String>)>) -> Result<()> {
    let path = root.join(folder);
    let mut files = Vec::new();
    for name in read_dir_names(&path)? {
        let child = path.join(&name);
        let is_link = child.symlink_metadata().is_ok_and(|m| m.is_symlink());
        if child.is_dir() {
            if !is_hidden(&name) && !is_link {
                let name = utf8(&path, name)?;
                walk(root, &format!("{folder}/{name}"), out)?;
            }
        } else if is_image_name(&name.to_string_lossy()) {
            files.push(utf8(&path, name)?);
        }
    }
    out.push((folder.to_string(), files));
    Ok(())
}

fn read_dir_names(dir: &Path) -> Result<Vec<OsString>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
    entries
        .map(|entry| {
            entry
                .map(|e| e.file_name())
                .map_err(|e| Error::read(dir, e))
        })
        .collect()
}

/// The name of an entry of `dir` as text, or an error that names it and says what to do.
fn utf8(dir: &Path, name: OsString) -> Result<String> {
    name.into_string().map_err(|name| {
        Error::invalid(
            &dir.join(name),
            "has a name that is not valid UTF-8, which the caches cannot record: rename it",
        )
    })
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
        for name in ["a.gif", "a.webp", "a.jpg.txt", "a.jpgx"] {
            assert!(!is_image_name(name), "{name}");
        }
        // Keras does not ask for a dot.
        for name in ["photojpg", "jpg", "scan.TIF"] {
            assert!(is_image_name(name), "{name}");
        }
    }
}
