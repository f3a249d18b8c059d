//! Keras 2's HDF5 whole-model file, as tf_keras's `model.save("x.h5")` writes it
//! (`saving/legacy/hdf5_format.py`), read into and written from a [`KerasFile`]:
//!
//! - root attributes `model_config` and `training_config` (JSON text, variable-length ASCII
//!   strings) and `keras_version` and `backend` (variable-length UTF-8);
//! - the group `model_weights`, with the attributes `layer_names` (the saved layers' names in
//!   order: a Sequential's without its input), `keras_version` and `backend`, and one group per
//!   saved layer whose attribute `weight_names` lists its weights in order (`dense/kernel:0`,
//!   `dense/bias:0`; an empty float64 array for a layer without weights), each a dataset at its
//!   name below the layer's group (`model_weights/dense/dense/kernel:0`). A nested model is
//!   one group holding its layers' weights, named `block1_conv1/kernel:0`, its trainable
//!   layers' first (Keras's `_legacy_weights`): the order in which tf_keras assigns them.
//!   `top_level_model_weights` holds a subclassed model's own weights, none here;
//! - the group `optimizer_weights`, once the optimizer has variables: `weight_names`
//!   (`iteration:0`, `RMSprop/velocity/dense/kernel:0`, ...) and a dataset at each name.
//!
//! Keras writes a long list of names as `layer_names0`, `layer_names1`, ...; the reader joins
//! them, and the writer writes one list, since its variable-length strings take 16 bytes each
//! in the attribute, far from HDF5's limit. The same `model_weights` layout (at the root) is
//! Keras's `save_weights` file, which [`read_layers`] serves too.

use std::path::Path;

use hdf5_pure::AttrValue;
use serde_json::Value;

use super::config::ConfigLayer;
use super::h5_read::{join, H5};
use super::h5_write::Group;
use super::{KerasFile, KerasFormat, LayerWeights, Weight};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// What a Keras 2 model file is, for messages.
const FORMAT: &str = "a Keras 2 .h5 model (what tf_keras's model.save writes)";

/// Reads the Keras 2 model file at `path`.
pub(super) fn read(path: &Path) -> Result<KerasFile> {
    let h5 = H5::open(path, FORMAT)?;
    let root = h5.required_group("")?;
    let json = |name: &str| -> Result<Option<Value>> {
        let Some(text) = h5.string(&root, "", name)? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            h5.invalid(
                "attribute",
                name,
                format!("is not JSON ({e}): the file is damaged or was not written by Keras"),
            )
        })
    };
    let model_config =
        json("model_config")?.ok_or_else(|| h5.missing("attribute", "model_config"))?;
    let training_config = json("training_config")?;
    let weights = h5.required_group("model_weights")?;
    let attribute = |name: &str| -> Result<Option<String>> {
        Ok(match h5.string(&root, "", name)? {
            Some(value) => Some(value),
            None => h5.string(&weights, "model_weights", name)?,
        })
    };
    let top_level = "model_weights/top_level_model_weights";
    if let Some(group) = h5.group(top_level)? {
        if !h5
            .strings(&group, top_level, "weight_names")?
            .unwrap_or_default()
            .is_empty()
        {
            return Err(h5.invalid(
                "group",
                top_level,
                "holds weights of the model itself, which only subclassed models have: catsdogs reads Sequential and functional models",
            ));
        }
    }
    let optimizer = match h5.group("optimizer_weights")? {
        None => Vec::new(),
        Some(group) => {
            let names = h5
                .strings(&group, "optimizer_weights", "weight_names")?
                .ok_or_else(|| h5.missing("attribute", "optimizer_weights/weight_names"))?;
            names
                .into_iter()
                .map(|name| {
                    let (shape, values) = h5.values(&group, "optimizer_weights", &name)?;
                    Ok(Weight {
                        name,
                        shape,
                        values,
                    })
                })
                .collect::<Result<_>>()?
        }
    };
    Ok(KerasFile {
        format: KerasFormat::Keras2H5,
        keras_version: attribute("keras_version")?,
        backend: attribute("backend")?,
        model_config,
        training_config,
        metadata: None,
        layers: read_layers(&h5, &weights, "model_weights")?,
        optimizer,
    })
}

/// The weights of the layers of a group in Keras's `save_weights` layout (`layer_names`,
/// each layer's `weight_names`), at `at`, in order; a nested model's split by layer.
pub(in crate::weights) fn read_layers(
    h5: &H5,
    group: &hdf5_reader::group::Group,
    at: &str,
) -> Result<Vec<LayerWeights>> {
    let names = h5
        .strings(group, at, "layer_names")?
        .ok_or_else(|| h5.missing("attribute", &join(at, "layer_names")))?;
    let mut layers: Vec<LayerWeights> = Vec::new();
    for name in names {
        let layer_at = join(at, &name);
        let layer = h5
            .group(&layer_at)?
            .ok_or_else(|| h5.missing("group", &layer_at))?;
        for weight_name in h5
            .strings(&layer, &layer_at, "weight_names")?
            .unwrap_or_default()
        {
            let (shape, values) = h5.values(&layer, &layer_at, &weight_name)?;
            // `dense/kernel:0` in `dense` is the layer's own; `block1_conv1/kernel:0` in
            // `vgg16` is the nested model's layer `block1_conv1`.
            let mut parts: Vec<&str> = weight_name.split('/').collect();
            parts.pop();
            if parts.first() == Some(&name.as_str()) {
                parts.remove(0);
            }
            let path: Vec<String> = std::iter::once(name.clone())
                .chain(parts.into_iter().map(str::to_string))
                .collect();
            let weight = Weight {
                name: weight_name,
                shape,
                values,
            };
            match layers.iter_mut().find(|l| l.path == path) {
                Some(layer) => layer.weights.push(weight),
                None => layers.push(LayerWeights {
                    path,
                    weights: vec![weight],
                }),
            }
        }
    }
    Ok(layers)
}

/// Writes `file` at `path` in Keras 2's layout: the groups and attributes tf_keras writes,
/// the saved layers' names from the model's config.
pub(super) fn write(file: &KerasFile, path: &Path) -> Result<()> {
    let model = ConfigLayer::model(&file.model_config).map_err(|why| Error::KerasInvalid {
        path: path.to_path_buf(),
        part: "the model's config".into(),
        why: format!("{why}: give the config Keras saved with the model"),
    })?;
    let names = model.layer_names();
    if let Some(layer) = file
        .layers
        .iter()
        .find(|l| !l.path.first().is_some_and(|top| names.contains(top)))
    {
        return Err(Error::KerasInvalid {
            path: path.to_path_buf(),
            part: format!("the weights of {}", layer.path.join("/")),
            why: format!(
                "belong to no layer that the model's config saves ({}): give the weights of the config's layers",
                names.join(", ")
            ),
        });
    }
    let mut root = Group::default();
    let text = |value: &Value| AttrValue::VarLenAsciiString(value.to_string());
    root.attr("model_config", text(&file.model_config));
    if let Some(training) = &file.training_config {
        root.attr("training_config", text(training));
    }
    let weights = root.group("model_weights");
    for (name, value) in [
        ("backend", &file.backend),
        ("keras_version", &file.keras_version),
    ] {
        if let Some(value) = value {
            weights.attr(name, AttrValue::VarLenAsciiString(value.clone()));
        }
    }
    weights.attr(
        "layer_names",
        AttrValue::VarLenAsciiStringArray(names.clone()),
    );
    for name in &names {
        let group = weights.group(name);
        let mut weight_names = Vec::new();
        for layer in file.layers.iter().filter(|l| l.path[0] == *name) {
            for weight in &layer.weights {
                group.dataset(&weight.name, weight);
                weight_names.push(weight.name.clone());
            }
        }
        group.attr("weight_names", names_attribute(weight_names));
    }
    weights
        .group("top_level_model_weights")
        .attr("weight_names", names_attribute(Vec::new()));
    if !file.optimizer.is_empty() {
        let optimizer = root.group("optimizer_weights");
        for weight in &file.optimizer {
            optimizer.dataset(&weight.name, weight);
        }
        let names = file.optimizer.iter().map(|w| w.name.clone()).collect();
        optimizer.attr("weight_names", names_attribute(names));
    }
    for (name, value) in [
        ("backend", &file.backend),
        ("keras_version", &file.keras_version),
    ] {
        if let Some(value) = value {
            root.attr(name, AttrValue::VarLenString(value.clone()));
        }
    }
    write_atomic(path, &root.to_bytes(path)?)
}

/// A list of names as Keras writes it: variable-length strings, or an empty float64 array.
fn names_attribute(names: Vec<String>) -> AttrValue {
    if names.is_empty() {
        AttrValue::F64Array(Vec::new())
    } else {
        AttrValue::VarLenAsciiStringArray(names)
    }
}
