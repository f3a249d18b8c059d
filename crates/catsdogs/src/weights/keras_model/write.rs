//! A [`Model`] as the Keras model file that Keras would save of it: a Sequential whose first
//! layer is the base's functional model when the model has a base (the tutorial's), a
//! functional model otherwise; each layer's config from its kind (see
//! [`crate::model::KerasLayer`]) with its name and `trainable` flag; the weights in Keras's
//! layout, in the order each Keras assigns them (tf_keras: a nested model's trainable weights
//! first); what `compile` gave the model, and the optimizer's state.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{compile, flat_order, unflat_output, weight, PREPROCESS_KEY};
use crate::error::{Error, Result};
use crate::model::{Layer, Model};
use crate::weights::keras_file::{KerasFile, KerasFormat, LayerWeights};
use crate::weights::layout::Layout;

/// The version of tf_keras whose `.h5` layout the files follow (and that reads them in the
/// tests).
const KERAS_2_VERSION: &str = "2.21.0";
/// The version of Keras whose `.keras` layout the files follow.
const KERAS_3_VERSION: &str = "3.15.1";

/// `model` as a Keras file of `format`, for `path` (named in errors).
pub(super) fn keras_file(model: &Model, format: KerasFormat, path: &Path) -> Result<KerasFile> {
    model.check()?;
    let writer = Writer::new(model, format, path)?;
    let compiled = compile::keras_config(model, format);
    let mut model_config = writer.model_config()?;
    let metadata = match format {
        KerasFormat::Keras2H5 => None,
        KerasFormat::Keras3Zip => {
            if let Some(compiled) = &compiled {
                model_config["compile_config"] = compiled.clone();
            }
            Some(json!({
                "keras_version": KERAS_3_VERSION,
                "catsdogs_version": env!("CARGO_PKG_VERSION"),
                PREPROCESS_KEY: model.preprocess(),
            }))
        }
    };
    let (keras_version, backend, training_config) = match format {
        KerasFormat::Keras2H5 => (KERAS_2_VERSION, Some("tensorflow".into()), compiled),
        KerasFormat::Keras3Zip => (KERAS_3_VERSION, None, None),
    };
    Ok(KerasFile {
        format,
        keras_version: Some(keras_version.into()),
        backend,
        model_config,
        training_config,
        metadata,
        layers: writer.weights()?,
        optimizer: compile::keras_state(model, format, &writer.flatten_inputs)?,
    })
}

/// What writing a model needs to know of it.
struct Writer<'a> {
    model: &'a Model,
    format: KerasFormat,
    path: PathBuf,
    /// Each layer's sources: `None` for the model's input, else a layer's index.
    sources: Vec<Vec<Option<usize>>>,
    /// The name of the input layer, one no layer has.
    input: String,
    flatten_inputs: HashMap<String, Vec<i64>>,
}

impl<'a> Writer<'a> {
    fn new(model: &'a Model, format: KerasFormat, path: &Path) -> Result<Self> {
        let layers = model.layers();
        let taken: HashSet<&str> = layers.iter().map(Layer::name).collect();
        let input = (1..)
            .map(|n| format!("input_{n}"))
            .find(|name| !taken.contains(name.as_str()))
            .expect("a free name");
        let mut writer = Writer {
            model,
            format,
            path: path.to_path_buf(),
            sources: Vec::with_capacity(layers.len()),
            input,
            flatten_inputs: HashMap::new(),
        };
        let mut orders: Vec<Option<Vec<i64>>> = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let sources = if layer.inputs().is_empty() {
                vec![i.checked_sub(1)]
            } else {
                let named = layer
                    .inputs()
                    .iter()
                    .map(|n| model.layer_index(n).map(Some));
                named.collect::<Result<_>>()?
            };
            if i >= model.base_len() && model.base_len() > 0 && !layer.inputs().is_empty() {
                return Err(writer.refuse(format!(
                    "its layer {} takes {}, where the layers of a Sequential take the one before",
                    layer.name(),
                    layer.inputs().join(" and ")
                )));
            }
            let input = writer.shape(sources[0]).to_vec();
            let taken: Vec<Option<&[i64]>> = sources
                .iter()
                .map(|s| s.and_then(|s| orders[s].as_deref()))
                .collect();
            let order = flat_order(layer.kind(), &input, &taken)
                .map_err(|why| writer.refuse(format!("its layer {} {why}", layer.name())))?;
            if let (crate::model::LayerKind::Dense(_), Some(Some(maps))) =
                (layer.kind(), taken.first())
            {
                writer
                    .flatten_inputs
                    .insert(layer.name().to_string(), maps.to_vec());
            }
            orders.push(order);
            writer.sources.push(sources);
        }
        if let Some(Some(maps)) = orders.last() {
            return Err(writer.refuse(format!("it {}", unflat_output(maps))));
        }
        Ok(writer)
    }

    fn refuse(&self, why: String) -> Error {
        Error::KerasExport {
            path: self.path.clone(),
            model: self.model.name().to_string(),
            why,
        }
    }

    /// The shape of one sample of a source.
    fn shape(&self, source: Option<usize>) -> &'a [i64] {
        match source {
            None => self.model.input_shape(),
            Some(layer) => &self.model.output_shapes()[layer],
        }
    }

    /// The name of a source.
    fn name(&self, source: Option<usize>) -> &str {
        match source {
            None => &self.input,
            Some(layer) => self.model.layers()[layer].name(),
        }
    }

    /// The model's config: a Sequential nesting the base, or a functional model.
    fn model_config(&self) -> Result<Value> {
        let model = self.model;
        let base = model.base_len();
        let layers = model.layers();
        if base == 0 {
            return self.functional(model.name(), 0..layers.len());
        }
        let mut entries = vec![self.input_layer(&format!("{}_input", model.name()), false)];
        entries.push(self.functional(model.base_name(), 0..base)?);
        for layer in &layers[base..] {
            entries.push(self.layer(layer, None)?);
        }
        let shape = batch_shape(model.input_shape());
        Ok(match self.format {
            KerasFormat::Keras2H5 => json!({
                "class_name": "Sequential",
                "config": {"name": model.name(), "layers": entries},
            }),
            KerasFormat::Keras3Zip => json!({
                "module": "keras",
                "class_name": "Sequential",
                "config": {"name": model.name(), "trainable": true, "layers": entries, "build_input_shape": shape},
                "registered_name": null,
                "build_config": {"input_shape": shape},
            }),
        })
    }

    /// The functional model `name` of layers `range`, on the model's input.
    fn functional(&self, name: &str, range: std::ops::Range<usize>) -> Result<Value> {
        let last = range
            .end
            .checked_sub(1)
            .map(|i| self.model.layers()[i].name());
        let mut entries = vec![self.input_layer(&self.input, true)];
        for i in range {
            let sources = &self.sources[i];
            entries.push(self.layer(&self.model.layers()[i], Some(sources))?);
        }
        let (input, output) = (json!([self.input, 0, 0]), json!([last, 0, 0]));
        Ok(match self.format {
            KerasFormat::Keras2H5 => json!({
                "class_name": "Functional",
                "config": {"name": name, "trainable": true, "layers": entries,
                           "input_layers": [input], "output_layers": [output]},
            }),
            KerasFormat::Keras3Zip => json!({
                "module": "keras.src.models.functional",
                "class_name": "Functional",
                "config": {"name": name, "trainable": true, "layers": entries,
                           "input_layers": input, "output_layers": output},
                "registered_name": "Functional",
            }),
        })
    }

    /// The `InputLayer` `name` of the model's input; `in_graph` as a functional model lists it.
    fn input_layer(&self, name: &str, in_graph: bool) -> Value {
        let shape = batch_shape(self.model.input_shape());
        let mut entry = match self.format {
            KerasFormat::Keras2H5 => json!({
                "class_name": "InputLayer",
                "config": {"batch_input_shape": shape, "dtype": "float32", "sparse": false, "ragged": false, "name": name},
            }),
            KerasFormat::Keras3Zip => json!({
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": {"batch_shape": shape, "dtype": "float32", "sparse": false, "name": name},
                "registered_name": null,
            }),
        };
        if in_graph {
            entry["name"] = json!(name);
            entry["inbound_nodes"] = json!([]);
        }
        entry
    }

    /// A layer's entry; with `sources`, as a functional model lists it (with what it takes).
    fn layer(&self, layer: &Layer, sources: Option<&[Option<usize>]>) -> Result<Value> {
        let class = layer.kind().class_name();
        let mut config = layer
            .kind()
            .keras_config()
            .map_err(|why| self.refuse(format!("its layer {} ({class}) {why}", layer.name())))?;
        config["name"] = json!(layer.name());
        config["trainable"] = json!(layer.trainable());
        config["dtype"] = json!("float32");
        let mut entry = match self.format {
            KerasFormat::Keras2H5 => json!({"class_name": class, "config": config}),
            KerasFormat::Keras3Zip => json!({
                "module": "keras.layers",
                "class_name": class,
                "config": config,
                "registered_name": null,
            }),
        };
        if let Some(sources) = sources {
            entry["name"] = json!(layer.name());
            entry["inbound_nodes"] = self.node(sources);
        }
        Ok(entry)
    }

    /// The one node of a layer that takes `sources`.
    fn node(&self, sources: &[Option<usize>]) -> Value {
        match self.format {
            KerasFormat::Keras2H5 => {
                let tensors: Vec<Value> = sources
                    .iter()
                    .map(|&s| json!([self.name(s), 0, 0, {}]))
                    .collect();
                json!([tensors])
            }
            KerasFormat::Keras3Zip => {
                let tensors: Vec<Value> = sources
                    .iter()
                    .map(|&s| {
                        json!({"class_name": "__keras_tensor__", "config": {
                            "shape": batch_shape(self.shape(s)),
                            "dtype": "float32",
                            "keras_history": [self.name(s), 0, 0],
                        }})
                    })
                    .collect();
                let args = match tensors.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(tensors),
                };
                json!([{"args": [args], "kwargs": {}}])
            }
        }
    }

    /// Each layer's weights in Keras's layout, named and ordered as the format has them.
    fn weights(&self) -> Result<Vec<LayerWeights>> {
        let model = self.model;
        let base = model.base_len();
        let mut saved = Vec::new();
        // tf_keras assigns a nested model's weights in one list, its trainable ones first.
        let passes: &[bool] = match self.format {
            KerasFormat::Keras2H5 if base > 0 => &[true, false],
            _ => &[true],
        };
        for &trained_pass in passes {
            for layer in &model.layers()[..base] {
                let path = vec![model.base_name().to_string(), layer.name().to_string()];
                let keep = |trained: bool| passes.len() == 1 || trained == trained_pass;
                saved.extend(self.layer_weights(layer, path, keep)?);
            }
        }
        for layer in &model.layers()[base..] {
            saved.extend(self.layer_weights(layer, vec![layer.name().to_string()], |_| true)?);
        }
        Ok(saved)
    }

    /// The weights of `layer` that `keep` keeps (given whether the optimizer trains each).
    fn layer_weights(
        &self,
        layer: &Layer,
        path: Vec<String>,
        keep: impl Fn(bool) -> bool,
    ) -> Result<Option<LayerWeights>> {
        let kind = layer.kind();
        let maps = self.flatten_inputs.get(layer.name()).map(Vec::as_slice);
        let mut weights = Vec::new();
        for (i, (spec, tensor)) in kind.op().weights().iter().zip(layer.weights()).enumerate() {
            if !keep(layer.trainable() && spec.trained) {
                continue;
            }
            let name = match self.format {
                KerasFormat::Keras2H5 => format!("{}/{}:0", layer.name(), spec.name),
                KerasFormat::Keras3Zip => i.to_string(),
            };
            let keras = Layout::Keras.to_file(tensor.shallow_clone(), kind, spec.name, maps)?;
            weights.push(weight(name, &keras)?);
        }
        Ok((!weights.is_empty()).then_some(LayerWeights { path, weights }))
    }
}

/// Keras's batch shape of samples of `shape` (this crate's layout): `[null, 32, 32, 3]`.
fn batch_shape(shape: &[i64]) -> Value {
    let mut dims: Vec<Value> = vec![Value::Null];
    let mut keras: Vec<i64> = shape.to_vec();
    if keras.len() == 3 {
        keras.rotate_left(1);
    }
    dims.extend(keras.into_iter().map(Value::from));
    Value::Array(dims)
}
