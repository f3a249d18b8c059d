//! What notebook `04-your-own-photos` needs: the trained model of an earlier notebook, the
//! reader's own photos (or, without any, a few test images), and the reader's own Keras model
//! (or, without one, the trained model saved as Keras's).

use std::path::{Path, PathBuf};

use super::{missing, Notebook};
use crate::data::{self, Preprocess};
use crate::error::{Error, Result};
use crate::experiments::{load_trained, MODEL_FILE};
use crate::model::Model;
use crate::weights::load_model;

/// The notebooks that train a cat/dog model, the preferred first.
pub const TRAINING_NOTEBOOKS: [&str; 2] = ["03-fine-tuning", "02-feature-extraction"];

/// The file the trained model is saved as when the reader brings no Keras model.
const KERAS_COPY: &str = "trained-here.h5";

/// The test images shown when the reader has no photos: this many of each class.
const TEST_IMAGES_PER_CLASS: usize = 2;

impl Notebook {
    /// The cat/dog model that `03-fine-tuning` saved (or, without it, `02-feature-extraction`),
    /// on [`crate::device()`], with the notebooks' preprocessing (VGG16's); says which.
    pub fn trained_model(&self) -> Result<Model> {
        let run_dir = self.run_dir();
        let runs = run_dir.parent().unwrap_or(&run_dir);
        for name in TRAINING_NOTEBOOKS {
            let run = runs.join(name);
            if run.join(MODEL_FILE).is_file() {
                crate::say!("The model of {name}: {}", run.join(MODEL_FILE).display());
                return load_trained(&run, Some(Preprocess::Vgg16));
            }
        }
        Err(missing(
            &runs.join(TRAINING_NOTEBOOKS[0]).join(MODEL_FILE),
            "run notebook 03-fine-tuning (or 02-feature-extraction) to the end first, which saves it",
        ))
    }

    /// The reader's own Keras model, loaded as Keras's `load_model` does: the file
    /// `$CATSDOGS_KERAS_MODEL`, else the first `.h5` (or `.keras`) file in this notebook's run
    /// folder. Without one, `trained` is saved there as Keras's `.h5` by
    /// [`Model::save_keras`] and loaded back, which the notebook says. Its images are
    /// preprocessed as `trained`'s unless its file says otherwise.
    pub fn keras_model(&self, trained: &Model) -> Result<Model> {
        let dir = self.run_dir();
        let file = match super::env_path("CATSDOGS_KERAS_MODEL") {
            Some(file) => file,
            None => match keras_files(&dir).into_iter().next() {
                Some(file) => file,
                None => {
                    let file = dir.join(KERAS_COPY);
                    trained.save_keras(&file)?;
                    crate::say!(
                        "No Keras model in {} (or CATSDOGS_KERAS_MODEL): saved the trained model                          there as Keras's {KERAS_COPY} with save_keras, and loading it back. Put                          your own model.save('x.h5') there to load yours.",
                        dir.display()
                    );
                    file
                }
            },
        };
        crate::say!("Keras model: {}", file.display());
        let model = load_model(&file)?;
        Ok(match model.preprocess() {
            Preprocess::None => model.with_preprocess(trained.preprocess()),
            _ => model,
        })
    }

    /// Where the reader's photos go: `$CATSDOGS_PHOTOS`, else `notebooks/photos/`.
    pub fn photos_dir(&self) -> PathBuf {
        super::env_path("CATSDOGS_PHOTOS")
            .unwrap_or_else(|| self.root.join("notebooks").join("photos"))
    }

    /// The image files in [`Notebook::photos_dir`]. Without that folder (or with it empty,
    /// unless `$CATSDOGS_PHOTOS` names it) a few test images of the split instead, saying so;
    /// a `$CATSDOGS_PHOTOS` without images is an error.
    pub fn photos(&self) -> Result<Vec<PathBuf>> {
        let dir = self.photos_dir();
        let chosen = std::env::var_os("CATSDOGS_PHOTOS").is_some_and(|v| !v.is_empty());
        if chosen || dir.is_dir() {
            match image_files(&dir) {
                Ok(files) => {
                    crate::say!("{} photos in {}", files.len(), dir.display());
                    return Ok(files);
                }
                Err(error) if chosen => return Err(error),
                Err(_) => {}
            }
        }
        let test = self.split_dir()?.join("test");
        let list = data::list_images(&test)?;
        let mut files = Vec::new();
        for class in 0..list.class_indices.len() as u32 {
            let of_class = list.filenames.iter().zip(&list.classes);
            files.extend(
                of_class
                    .filter(|(_, &c)| c == class)
                    .take(TEST_IMAGES_PER_CLASS)
                    .map(|(name, _)| test.join(name)),
            );
        }
        crate::say!(
            "No photos in {}: showing {} test images instead. Put your own photos there (or set \
             CATSDOGS_PHOTOS to their folder) and run this cell again.",
            dir.display(),
            files.len()
        );
        Ok(files)
    }
}

/// The `.h5` and then `.keras` files directly in `dir`, each kind in the order of their names
/// (none when there is no such folder).
fn keras_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = files_in(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("h5" | "keras")
            )
        })
        .collect();
    files.sort_by_key(|path| path.extension().is_some_and(|e| e == "keras"));
    files
}

/// The files directly in `dir` that are not hidden, in the order of their names.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the folder", dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("read the folder", dir, e))?
            .path();
        let hidden = path
            .file_name()
            .is_none_or(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The image files directly in `dir` (png, jpg, jpeg, bmp, ppm, tif or tiff, as Keras takes
/// them; not in its sub-folders, not hidden), in the order of their names. A folder without
/// any is an error that names it and says what to do.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// for name in ["b.JPG", "a.png", "notes.txt", ".hidden.jpg"] {
///     std::fs::write(dir.path().join(name), b"").unwrap();
/// }
/// let files = catsdogs::notebook::image_files(dir.path()).unwrap();
/// assert_eq!(files, [dir.path().join("a.png"), dir.path().join("b.JPG")]);
/// ```
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> = files_in(dir)?
        .into_iter()
        .filter(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| data::is_image_name(&n))
        })
        .collect();
    if files.is_empty() {
        return Err(Error::Invalid {
            path: dir.to_path_buf(),
            why: "holds no photos (png, jpg, jpeg, bmp, ppm, tif or tiff files): put some there, \
                  or point CATSDOGS_PHOTOS at a folder that has them"
                .into(),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_folder_is_one_sentence_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub.jpg")).unwrap();
        let error = image_files(dir.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: holds no photos (png, jpg, jpeg, bmp, ppm, tif or tiff files): put some \
                 there, or point CATSDOGS_PHOTOS at a folder that has them",
                dir.path().display()
            )
        );
    }

    /// Notebook 04 in sample mode in the repository `root`.
    fn sample_notebook(root: &Path) -> Notebook {
        Notebook::locate(
            "04-your-own-photos",
            root,
            root.join("data"),
            root.join("weights"),
            true,
        )
    }

    #[test]
    fn without_a_keras_model_it_saves_the_trained_one_as_keras_and_loads_that() {
        use crate::applications::Backbone;
        use crate::model::{Activation, Sequential};
        let root = tempfile::tempdir().unwrap();
        let nb = sample_notebook(root.path());
        let device = tch::Device::Cpu;
        let base = Backbone::Vgg16
            .application(false)
            .input_size(32, 32)
            .build(device)
            .unwrap();
        let trained = Sequential::new(&base)
            .flatten()
            .dense(1, Activation::Sigmoid)
            .with_preprocess(Preprocess::Vgg16);
        let keras = nb.keras_model(&trained).unwrap();
        let saved = nb.run_dir().join(KERAS_COPY);
        assert!(saved.is_file());
        assert_eq!(keras.summary(), trained.summary());
        assert_eq!(keras.preprocess(), Preprocess::Vgg16);
        // The next run finds the file there, and a reader's file beside it comes first.
        assert_eq!(keras_files(&nb.run_dir()), std::slice::from_ref(&saved));
        std::fs::copy(&saved, nb.run_dir().join("mine.h5")).unwrap();
        std::fs::copy(&saved, nb.run_dir().join("a.keras")).unwrap();
        let found = keras_files(&nb.run_dir());
        assert_eq!(found[0], nb.run_dir().join("mine.h5"));
        assert_eq!(found.last(), Some(&nb.run_dir().join("a.keras")));
    }

    #[test]
    fn without_a_trained_model_it_says_which_notebook_to_run() {
        let root = tempfile::tempdir().unwrap();
        let nb = sample_notebook(root.path());
        let error = nb.trained_model().unwrap_err().to_string();
        let expected = root
            .path()
            .join("runs/synthetic/03-fine-tuning/model.safetensors");
        assert_eq!(
            error,
            format!(
                "{}: not found; run notebook 03-fine-tuning (or 02-feature-extraction) to the end \
                 first, which saves it",
                expected.display()
            )
        );
        assert_eq!(nb.photos_dir(), root.path().join("notebooks/photos"));
    }
}
