//! Keras 3's `.keras` file, as `model.save("x.keras")` writes it (`saving/saving_lib.py`),
//! read into and written from a [`KerasFile`]. A zip (see [`super::archive`]) of:
//!
//! - `metadata.json`: `{"keras_version": "3.15.1", "date_saved": "..."}`;
//! - `config.json`: the model's config, with its `compile_config` (optimizer, loss, metrics)
//!   and `build_config` inside;
//! - `model.weights.h5`: the variables of the model's objects, one group per object, following
//!   the model: `vars` at the root (the model's own), `layers/<group>/vars` per saved layer, a
//!   nested model's layers under its own `layers/<group>/layers/`, and `optimizer/vars` (`0`
//!   the iteration count as int64, `1` the learning rate, then the optimizer's slots). A
//!   layer's group is named after its class (see [`super::config`]), its variables are
//!   datasets named by their index (`0`, `1`, ...), and each `vars` group has the attribute
//!   `name`, the object's name. Every saved layer has its `vars` group, with or without
//!   variables.

use std::path::Path;

use hdf5_pure::AttrValue;
use serde_json::Value;

use super::archive::{self, Archive};
use super::config::ConfigLayer;
use super::h5_read::H5;
use super::h5_write::Group;
use super::{KerasFile, KerasFormat, LayerWeights, Weight};
use crate::error::{Error, Result};

/// What a Keras 3 model file is, for messages.
const FORMAT: &str = "a Keras 3 .keras model (what Keras's model.save writes)";

const CONFIG: &str = "config.json";
const METADATA: &str = "metadata.json";
const WEIGHTS: &str = "model.weights.h5";

/// Reads the Keras 3 model file at `path`.
pub(super) fn read(path: &Path) -> Result<KerasFile> {
    let mut archive = Archive::open(path, FORMAT)?;
    let missing = |member: &str| Error::KerasMissing {
        path: path.to_path_buf(),
        part: format!("member {member}"),
        format: FORMAT,
    };
    let json = |member: &str, bytes: Vec<u8>| -> Result<Value> {
        serde_json::from_slice(&bytes).map_err(|e| Error::KerasInvalid {
            path: path.to_path_buf(),
            part: format!("member {member}"),
            why: format!("is not JSON ({e}): the file is damaged or was not written by Keras"),
        })
    };
    let config = archive.member(CONFIG)?.ok_or_else(|| missing(CONFIG))?;
    let model_config = json(CONFIG, config)?;
    let metadata = match archive.member(METADATA)? {
        Some(bytes) => Some(json(METADATA, bytes)?),
        None => None,
    };
    let weights = archive.member(WEIGHTS)?.ok_or_else(|| missing(WEIGHTS))?;
    let h5 = H5::from_bytes(path, WEIGHTS, weights, FORMAT)?;
    let model = ConfigLayer::model(&model_config).map_err(|why| Error::KerasInvalid {
        path: path.to_path_buf(),
        part: format!("member {CONFIG}"),
        why: format!("{why}: the file is damaged or was not written by Keras"),
    })?;
    let mut layers = Vec::new();
    for saved in model.saved_layers() {
        let name = saved.path.last().cloned().unwrap_or_default();
        let weights = read_vars(&h5, &saved.store, Some(&name))?;
        if !weights.is_empty() {
            layers.push(LayerWeights {
                path: saved.path,
                weights,
            });
        }
    }
    Ok(KerasFile {
        format: KerasFormat::Keras3Zip,
        keras_version: metadata
            .as_ref()
            .and_then(|m| m["keras_version"].as_str())
            .map(str::to_string),
        backend: None,
        optimizer: read_vars(&h5, "optimizer", None)?,
        model_config,
        training_config: None,
        metadata,
        layers,
    })
}

/// The variables in `<at>/vars`, in order (none when there is no such group); with `name`,
/// the group's `name` attribute, where Keras wrote one, must be it.
fn read_vars(h5: &H5, at: &str, name: Option<&str>) -> Result<Vec<Weight>> {
    let vars_at = format!("{at}/vars");
    let Some(vars) = h5.group(&vars_at)? else {
        return Ok(Vec::new());
    };
    if let (Some(name), Some(found)) = (name, h5.string(&vars, &vars_at, "name")?) {
        if found != name {
            return Err(h5.invalid(
                "group",
                &vars_at,
                format!("holds the variables of {found}, where the config saves {name} there: the config and the weights do not belong together; save the model again with Keras"),
            ));
        }
    }
    let mut names = h5.dataset_names(&vars)?;
    names.sort_by_key(|n| (n.len(), n.clone()));
    let numbered = names.iter().enumerate().all(|(i, n)| *n == i.to_string());
    if !numbered {
        return Err(h5.invalid(
            "group",
            &vars_at,
            format!("holds the datasets {}, not the 0, 1, ... that Keras numbers an object's variables with: the file is damaged or was not written by Keras", names.join(", ")),
        ));
    }
    names
        .into_iter()
        .map(|name| {
            let (shape, values) = h5.values(&vars, &vars_at, &name)?;
            Ok(Weight {
                name,
                shape,
                values,
            })
        })
        .collect()
}

/// Writes `file` at `path` as Keras 3 does: the groups from the model's config, every layer's
/// variables numbered in the order given, and `optimizer/vars` named after the compiled
/// optimizer.
pub(super) fn write(file: &KerasFile, path: &Path) -> Result<()> {
    let invalid = |part: String, why: String| Error::KerasInvalid {
        path: path.to_path_buf(),
        part,
        why,
    };
    let model = ConfigLayer::model(&file.model_config).map_err(|why| {
        invalid(
            "the model's config".into(),
            format!("{why}: give the config Keras saved with the model"),
        )
    })?;
    let saved = model.saved_layers();
    let mut root = Group::default();
    vars(&mut root, "", &model.name);
    for layer in &saved {
        vars(
            &mut root,
            &layer.store,
            layer.path.last().map_or("", String::as_str),
        );
    }
    for layer in &file.layers {
        let Some(place) = saved.iter().find(|s| s.path == layer.path) else {
            return Err(invalid(
                format!("the weights of {}", layer.path.join("/")),
                "belong to no layer that the model's config saves: give the weights of the config's layers".into(),
            ));
        };
        let group = root.group(&format!("{}/vars", place.store));
        for (i, weight) in layer.weights.iter().enumerate() {
            group.dataset(&i.to_string(), weight);
        }
    }
    let optimizer = &file.model_config["compile_config"]["optimizer"]["config"]["name"];
    if let Some(name) = optimizer.as_str() {
        vars(&mut root, "optimizer", name);
    }
    if !file.optimizer.is_empty() {
        let group = root.group("optimizer/vars");
        for (i, weight) in file.optimizer.iter().enumerate() {
            group.dataset(&i.to_string(), weight);
        }
    }
    let weights = root.to_bytes(path)?;
    let metadata = file
        .metadata
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    archive::write(
        path,
        &[
            (METADATA, metadata.to_string().as_bytes()),
            (CONFIG, file.model_config.to_string().as_bytes()),
            (WEIGHTS, &weights),
        ],
    )
}

/// Makes the group `<at>/vars` with the attribute `name`, as Keras makes it for each object.
fn vars(root: &mut Group, at: &str, name: &str) {
    let at = if at.is_empty() {
        "vars".to_string()
    } else {
        format!("{at}/vars")
    };
    root.group(&at)
        .attr("name", AttrValue::VarLenString(name.to_string()));
}
