//! Grad-CAM on image files and on the images of a flow: what the notebooks and the CLI show.

use std::path::Path;

use super::{Explained, Explanation, GradCam};
use crate::data::{load_img, DirectoryIterator, Preprocess};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::load_images;

/// Images explained per forward and backward pass.
const BATCH: usize = 16;

impl GradCam {
    /// The maps of image files, loaded at the model's input size as Keras's `load_img` does
    /// and preprocessed with `preprocess`, 16 at a time; the images are kept at their own size
    /// for [`Explained::figure`] and [`Explained::overlays`].
    pub fn explain_files(
        &self,
        model: &Model,
        paths: &[impl AsRef<Path>],
        preprocess: Preprocess,
    ) -> Result<Explained> {
        let size = match model.input_shape() {
            [_, height, width] => (*height as u32, *width as u32),
            _ => (224, 224),
        };
        let mut parts = Vec::new();
        let mut images = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(BATCH) {
            let x = load_images(chunk, size, preprocess)?;
            parts.push(self.explain(model, &x)?);
            for path in chunk {
                images.push(load_img(path.as_ref(), None)?);
            }
        }
        let names = paths
            .iter()
            .map(|p| {
                let p = p.as_ref();
                p.file_name()
                    .unwrap_or(p.as_os_str())
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        Ok(Explained {
            names,
            images,
            explanation: Explanation::concat(self.layer.as_deref().unwrap_or_default(), parts)?,
            truths: None,
            colormap: self.colormap,
            opacity: self.opacity.0,
        })
    }

    /// The maps of the images of `flow` at `indices` (e.g. an [`crate::plot::Interpretation`]'s
    /// most wrong), read from their files with the flow's size and preprocessing; the figure's
    /// captions add each image's true class.
    pub fn explain_flow(
        &self,
        model: &Model,
        flow: &DirectoryIterator,
        indices: &[usize],
    ) -> Result<Explained> {
        let files = indices
            .iter()
            .map(|&i| {
                flow.filenames
                    .get(i)
                    .map(|name| flow.directory.join(name))
                    .ok_or(Error::Index {
                        index: i,
                        samples: flow.samples(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut explained = self.explain_files(model, &files, flow.preprocessing())?;
        explained.truths = Some(indices.iter().map(|&i| flow.classes[i] as usize).collect());
        Ok(explained)
    }
}
