//! A model's saved form: the weights and the architecture (layers, names, connections,
//! `trainable` flags, the nested base, the preprocessing) in one safetensors file, written
//! atomically. The architecture is JSON in the file's metadata, versioned: version 2 describes
//! each layer's kind as Keras does, a class name and a config; files of version 1 (written
//! before, with the kinds as this crate's enum named them) are read by translating them.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::model::{Activation, Model, Sequential};
//! let dir = tempfile::tempdir().unwrap();
//! let base = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
//! let model = Sequential::new(&base).flatten().dense(1, Activation::Sigmoid);
//! model.save(dir.path().join("model.safetensors"))?;
//! let again = Model::load(dir.path().join("model.safetensors"), tch::Device::Cpu)?;
//! assert_eq!(again.summary(), model.summary());
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tch::Device;

use super::{Layer, LayerKind, Model};
use crate::data::{Preprocess, MAX_TARGET_SIDE};
use crate::error::{Error, Result};
use crate::tensor_file;

/// The metadata entry that holds the architecture.
const ARCHITECTURE_KEY: &str = "catsdogs.architecture";

/// The version [`Model::save`] writes.
const VERSION: u32 = 2;

/// What [`Model::save`] writes beside the weights, to rebuild the model.
#[derive(Serialize, Deserialize)]
struct Architecture {
    version: u32,
    name: String,
    input_shape: Vec<i64>,
    /// The nested base of a Sequential: its name and number of layers.
    #[serde(default)]
    base: Option<(String, usize)>,
    #[serde(default = "no_preprocessing")]
    preprocess: Preprocess,
    layers: Vec<LayerConfig>,
}

fn no_preprocessing() -> Preprocess {
    Preprocess::None
}

#[derive(Serialize, Deserialize)]
struct LayerConfig {
    name: String,
    kind: LayerKind,
    trainable: bool,
    /// The layers it takes, when not the previous one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<String>,
}

/// An architecture of version 1 as version 2 writes it: the base's name and length become
/// `base`, and each layer's kind, `{"conv2d": {...}}` or `"flatten"`, becomes Keras's class
/// name and config.
fn from_version_1(mut json: Value, invalid: impl Fn(String) -> Error) -> Result<Value> {
    let base = match (json.get("base_name"), json.get("base_len")) {
        (Some(name), Some(len)) if len.as_u64() != Some(0) => json!([name, len]),
        _ => Value::Null,
    };
    json["base"] = base;
    json["version"] = json!(VERSION);
    let layers = json
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| invalid("it has no list of layers".into()))?;
    for layer in layers {
        let old = layer.get("kind").cloned().unwrap_or_default();
        let (tag, config) = match old {
            Value::String(tag) => (tag, json!({})),
            Value::Object(map) if map.len() == 1 => map.into_iter().next().expect("one entry"),
            other => return Err(invalid(format!("a layer kind {other} of no known form"))),
        };
        let (class, config) = match tag.as_str() {
            "conv2d" => ("Conv2D", config),
            "depthwise_conv2d" => ("DepthwiseConv2D", config),
            "batch_norm" => ("BatchNormalization", config),
            "zero_padding2d" => ("ZeroPadding2D", config),
            "max_pool2d" => ("MaxPooling2D", json!({"pool_size": 2, "strides": 2})),
            "max_pool2d_with" => ("MaxPooling2D", config),
            "global_average_pooling2d" => ("GlobalAveragePooling2D", config),
            "global_max_pooling2d" => ("GlobalMaxPooling2D", config),
            "activation" => ("Activation", config),
            "relu6" => ("ReLU", json!({"max_value": 6.0})),
            "add" => ("Add", config),
            "flatten" => ("Flatten", config),
            "dense" => ("Dense", config),
            "dropout" => ("Dropout", config),
            other => {
                return Err(invalid(format!(
                    "a layer kind {other} that version 1 did not have"
                )))
            }
        };
        layer["kind"] = json!({"class_name": class, "config": config});
    }
    Ok(json)
}

impl Architecture {
    /// What is wrong with a stored architecture's frame, checked before any layer is built
    /// from it: an image input of sane size, at least one layer, and a base within the model.
    /// The layers are checked as the model is built.
    fn check(&self) -> Option<String> {
        let max = i64::from(MAX_TARGET_SIDE);
        let side = |n: i64| (1..=max).contains(&n);
        if !matches!(self.input_shape[..], [3, h, w] if side(h) && side(w)) {
            return Some(format!(
                "its input shape {:?} is not 3 channels of 1 to {max} pixels a side",
                self.input_shape
            ));
        }
        if self.layers.is_empty() {
            return Some("it has no layers".into());
        }
        if self
            .base
            .as_ref()
            .is_some_and(|(_, len)| *len > self.layers.len())
        {
            return Some("its base is longer than the model".into());
        }
        None
    }

    /// The architecture in the metadata of the file `path`, of any version.
    fn read(path: &Path, metadata: &HashMap<String, String>) -> Result<Architecture> {
        let invalid = |why: String| Error::Architecture {
            path: path.to_path_buf(),
            why,
        };
        let json = metadata
            .get(ARCHITECTURE_KEY)
            .ok_or_else(|| invalid(format!("no '{ARCHITECTURE_KEY}' entry")))?;
        let mut value: Value = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        match value.get("version").and_then(Value::as_u64) {
            None | Some(1) => value = from_version_1(value, invalid)?,
            Some(2) => {}
            Some(other) => {
                return Err(invalid(format!(
                    "it is of version {other}, newer than this catsdogs reads ({VERSION}); update catsdogs"
                )))
            }
        }
        let architecture: Architecture =
            serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        match architecture.check() {
            Some(why) => Err(invalid(why)),
            None => Ok(architecture),
        }
    }
}

impl Model {
    /// Saves the weights and the architecture (layers, names, connections, `trainable` flags,
    /// the nested base, the preprocessing) as one safetensors file, written atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.check()?;
        let architecture = Architecture {
            version: VERSION,
            name: self.name.clone(),
            input_shape: self.input_shape().to_vec(),
            base: self.base.clone(),
            preprocess: self.preprocess,
            layers: self
                .layers
                .iter()
                .map(|l| LayerConfig {
                    name: l.name().to_string(),
                    kind: l.kind().clone(),
                    trainable: l.trainable(),
                    inputs: l.inputs().to_vec(),
                })
                .collect(),
        };
        let metadata = HashMap::from([(
            ARCHITECTURE_KEY.to_string(),
            serde_json::to_string(&architecture).expect("architectures serialise"),
        )]);
        tensor_file::write(path.as_ref(), &self.named_parameters(), metadata)
    }

    /// Loads a model written by [`Model::save`] (of any version) onto `device`.
    pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Self> {
        let path = path.as_ref();
        let (mut tensors, metadata) = tensor_file::read(path)?;
        let invalid = |why: String| Error::Architecture {
            path: path.to_path_buf(),
            why,
        };
        let architecture = Architecture::read(path, &metadata)?;
        let mut layers = Vec::with_capacity(architecture.layers.len());
        for config in architecture.layers {
            let weights = config
                .kind
                .weight_shapes()
                .iter()
                .map(|(weight, _)| {
                    let name = format!("{}/{weight}", config.name);
                    let tensor = tensors
                        .remove(&name)
                        .ok_or_else(|| invalid(format!("the tensor {name} is missing")))?;
                    tensor_file::weight(path, &name, tensor)
                })
                .collect::<Result<Vec<_>>>()?;
            let mut layer =
                Layer::with_weights(config.name, config.kind, weights)?.with_inputs(config.inputs);
            layer.set_trainable(config.trainable);
            layers.push(layer);
        }
        let mut model = Model::new(architecture.name, architecture.input_shape, layers)
            .map_err(|e| invalid(e.to_string()))?
            .with_preprocess(architecture.preprocess);
        model.base = architecture.base;
        model.to(device);
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_kinds_read_as_version_2() {
        let old = json!({
            "name": "sequential_1", "input_shape": [3, 32, 32], "base_name": "vgg16", "base_len": 2,
            "layers": [
                {"name": "block1_conv1", "kind": {"conv2d": {"in_channels": 3, "filters": 4, "activation": "relu"}}, "trainable": false},
                {"name": "block1_pool", "kind": "max_pool2d", "trainable": false},
                {"name": "pool", "kind": {"max_pool2d_with": {"pool_size": 3, "strides": 2}}, "trainable": true},
                {"name": "relu", "kind": "relu6", "trainable": true},
                {"name": "flatten_1", "kind": "flatten", "trainable": true},
            ]
        });
        let metadata = HashMap::from([(ARCHITECTURE_KEY.to_string(), old.to_string())]);
        let architecture = Architecture::read(Path::new("m"), &metadata).unwrap();
        assert_eq!(architecture.base, Some(("vgg16".to_string(), 2)));
        let kinds: Vec<LayerKind> = architecture.layers.into_iter().map(|l| l.kind).collect();
        use crate::model::{Activation, Conv2d, Flatten, MaxPooling2d, Relu};
        assert_eq!(
            kinds,
            [
                Conv2d {
                    filters: 4,
                    ..Conv2d::vgg(3, 4, Activation::Relu)
                }
                .into(),
                MaxPooling2d::vgg().into(),
                MaxPooling2d {
                    pool_size: 3,
                    strides: 2,
                    padding: crate::model::Padding::Valid,
                }
                .into(),
                Relu {
                    max_value: Some(6.0)
                }
                .into(),
                LayerKind::from(Flatten {}),
            ]
        );
    }

    #[test]
    fn newer_versions_are_refused_in_words() {
        let newer = json!({"version": 9, "name": "m", "input_shape": [3, 8, 8], "layers": []});
        let metadata = HashMap::from([(ARCHITECTURE_KEY.to_string(), newer.to_string())]);
        let why = Architecture::read(Path::new("m"), &metadata).err().unwrap();
        assert!(why.to_string().contains("version 9"), "{why}");
    }
}
