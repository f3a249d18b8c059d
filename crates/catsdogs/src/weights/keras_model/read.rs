//! A Keras model file's config and weights as a [`Model`]: the model's input from its
//! `InputLayer`, each layer's kind from its class and config (read by the kind itself, see
//! [`crate::model::KerasLayer`]) for the shape of what it takes, its inputs from its
//! `inbound_nodes` (Keras 2's lists and Keras 3's tensors), its weights converted to this
//! crate's layout and its `trainable` flag as saved, within the flags of the models it is
//! nested in. A Sequential whose first layer is a model (the tutorial's VGG16) nests it as its
//! base; any other nesting, a shared layer, a second input or output is refused in one sentence
//! that names the layer.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tch::Tensor;

use super::{flat_order, is_model, unflat_output, GraphRefusal};
use crate::data::MAX_TARGET_SIDE;
use crate::error::{Error, Result};
use crate::model::{KerasConfig, KerasRefusal, Layer, LayerKind, Model, Sequential};
use crate::weights::keras_file::config::ConfigLayer;
use crate::weights::keras_file::{KerasFile, LayerWeights, Values};
use crate::weights::layout::Layout;

/// What reading gives: the model, and for each `Dense` that takes a Flatten's features of
/// maps, the maps' shape (its kernel's rows, and its optimizer slots', are permuted).
pub(super) struct Read {
    pub(super) model: Model,
    pub(super) flatten_inputs: HashMap<String, Vec<i64>>,
}

/// Builds the model that `file` (read from `path`) describes.
pub(super) fn read(file: &KerasFile, path: &Path) -> Result<Read> {
    let root = ConfigLayer::model(&file.model_config).map_err(|why| Error::KerasInvalid {
        path: path.to_path_buf(),
        part: "the model's config".into(),
        why: format!("{why}: the file is damaged or was not written by Keras"),
    })?;
    let mut reader = Reader {
        path: path.to_path_buf(),
        weights: file.layers.iter().map(|l| (l.path.clone(), l)).collect(),
        input: input_shape(&root, path)?,
        shapes: HashMap::new(),
        orders: HashMap::new(),
        names: HashSet::new(),
        layers: Vec::new(),
        last: None,
        flatten_inputs: HashMap::new(),
    };
    let trainable = flag(&root.entry["config"], "trainable");
    let model = if root.class_name == "Sequential" {
        reader.sequential(&root, trainable)?
    } else {
        reader.functional(&root, &[], trainable)?;
        let layers = std::mem::take(&mut reader.layers);
        Model::new(root.name.clone(), reader.input.clone(), layers)?
    };
    model.check()?;
    reader.check_output(&root)?;
    if let Some(extra) = reader.weights.keys().min() {
        return Err(Error::KerasInvalid {
            path: reader.path,
            part: format!("the weights of {}", extra.join("/")),
            why: "belong to no layer of the model's config: the config and the weights do not belong together; save the model again with Keras".into(),
        });
    }
    Ok(Read {
        model,
        flatten_inputs: reader.flatten_inputs,
    })
}

/// The state of reading: the layers so far, and what later layers need to know of them.
struct Reader<'a> {
    path: PathBuf,
    /// The file's weights not yet taken, by the layer's path.
    weights: HashMap<Vec<String>, &'a LayerWeights>,
    /// One input sample's shape, this crate's layout.
    input: Vec<i64>,
    /// Each layer's output shape, by name.
    shapes: HashMap<String, Vec<i64>>,
    /// Each layer's output that is a Flatten's features of maps, in this crate's order (see
    /// [`flat_order`]).
    orders: HashMap<String, Vec<i64>>,
    names: HashSet<String>,
    layers: Vec<Layer>,
    /// The last layer's name.
    last: Option<String>,
    flatten_inputs: HashMap<String, Vec<i64>>,
}

/// A config's `trainable` (true when missing, as Keras has it).
fn flag(config: &Value, key: &str) -> bool {
    config[key].as_bool().unwrap_or(true)
}

impl Reader<'_> {
    /// An error for the layer at `at` of class `class`.
    fn wrong(&self, at: &[String], class: &str, why: String) -> Error {
        Error::KerasLayer {
            path: self.path.clone(),
            layer: at.join("/"),
            class: class.to_string(),
            why,
        }
    }

    /// A Sequential: its layers in a chain, the first one a nested model (its base) or not.
    fn sequential(&mut self, root: &ConfigLayer, trainable: bool) -> Result<Model> {
        let layers = root.layers.as_deref().unwrap_or_default();
        let (base, head) = match layers.split_first() {
            Some((first, rest)) if first.layers.is_some() => (Some(first), rest),
            _ => (None, layers),
        };
        let base = match base {
            None => None,
            Some(base) => {
                let prefix = [base.name.clone()];
                let trainable = trainable && flag(&base.entry["config"], "trainable");
                if base.class_name == "Sequential" {
                    self.chain(
                        base.layers.as_deref().unwrap_or_default(),
                        &prefix,
                        trainable,
                    )?;
                } else {
                    self.functional(base, &prefix, trainable)?;
                }
                let layers = std::mem::take(&mut self.layers);
                Some(Model::new(base.name.clone(), self.input.clone(), layers)?)
            }
        };
        self.chain(head, &[], trainable)?;
        let head = std::mem::take(&mut self.layers);
        let model = match base {
            Some(base) => head
                .into_iter()
                .fold(Sequential::of(root.name.clone(), base), Model::add),
            None => Model::new(root.name.clone(), self.input.clone(), head)?,
        };
        Ok(model)
    }

    /// Layers of a Sequential, each taking the one before.
    fn chain(&mut self, layers: &[ConfigLayer], prefix: &[String], trainable: bool) -> Result<()> {
        for layer in layers {
            let inbound = vec![self.last.clone()];
            self.layer(layer, prefix, trainable, inbound)?;
        }
        Ok(())
    }

    /// A functional model's layers, each taking the layers its node names.
    fn functional(
        &mut self,
        model: &ConfigLayer,
        prefix: &[String],
        trainable: bool,
    ) -> Result<()> {
        let mut input: Option<&str> = None;
        for layer in model.layers.as_deref().unwrap_or_default() {
            let at = [prefix, std::slice::from_ref(&layer.name)].concat();
            if layer.class_name == "InputLayer" {
                if input.is_some() {
                    return Err(self.wrong(&at, "InputLayer", "is the model's second input, where catsdogs runs models of one input, so catsdogs cannot load this model".into()));
                }
                input = Some(&layer.name);
                continue;
            }
            let inbound = inbound(&layer.entry)
                .map_err(|why| {
                    let why = format!("{why}, so catsdogs cannot load this model");
                    self.wrong(&at, &layer.class_name, why)
                })?
                .into_iter()
                .map(|name| (Some(name.as_str()) != input).then_some(name))
                .collect();
            self.layer(layer, prefix, trainable, inbound)?;
        }
        let outputs = tensor_names(&model.entry["config"]["output_layers"]);
        if outputs.len() != 1 || outputs.first() != self.last.as_ref() {
            let at = [prefix, std::slice::from_ref(&model.name)].concat();
            return Err(self.wrong(&at, &model.class_name, format!(
                "gives the outputs of {}, where catsdogs runs models whose one output is their last layer's ({}), so catsdogs cannot load this model",
                outputs.join(", "),
                self.last.as_deref().unwrap_or("none")
            )));
        }
        Ok(())
    }

    /// An error unless the model's output, its last layer's, is in Keras's order.
    fn check_output(&self, model: &ConfigLayer) -> Result<()> {
        match self.last.as_ref().and_then(|last| self.orders.get(last)) {
            Some(maps) => Err(self.wrong(
                std::slice::from_ref(&model.name),
                &model.class_name,
                format!(
                    "{}, so catsdogs cannot load this model",
                    unflat_output(maps)
                ),
            )),
            None => Ok(()),
        }
    }

    /// Adds the layer `layer` of the model at `prefix`, taking the outputs of the layers
    /// `inbound` (`None`: the model's input).
    fn layer(
        &mut self,
        layer: &ConfigLayer,
        prefix: &[String],
        trainable: bool,
        inbound: Vec<Option<String>>,
    ) -> Result<()> {
        let at = [prefix, std::slice::from_ref(&layer.name)].concat();
        let class = layer.class_name.as_str();
        let (path, shown) = (self.path.clone(), at.join("/"));
        let cannot = |why: String| Error::KerasLayer {
            path: path.clone(),
            layer: shown.clone(),
            class: class.to_string(),
            why: format!("{why}, so catsdogs cannot load this model"),
        };
        if layer.layers.is_some() {
            return Err(cannot(
                "is a nested model, where catsdogs nests a model only as the first layer of a Sequential (as the tutorial's VGG16)".into(),
            ));
        }
        if !self.names.insert(layer.name.clone()) {
            return Err(cannot(
                "has the name of an earlier layer, where catsdogs needs each layer's name once, nested models' included".into(),
            ));
        }
        let input = match inbound.first() {
            None => return Err(cannot("takes no input".into())),
            Some(None) => self.input.clone(),
            Some(Some(name)) => self
                .shapes
                .get(name)
                .cloned()
                .ok_or_else(|| cannot(format!("takes {name}, which is no layer before it")))?,
        };
        let inputs = self
            .inputs(&inbound)
            .map_err(|why| cannot(why.to_string()))?;
        let refused = |why: KerasRefusal| cannot(why.to_string());
        let config = KerasConfig::new(&layer.entry["config"], &input).map_err(refused)?;
        let kind = match LayerKind::from_keras(class, &config) {
            None => {
                return Err(cannot(format!(
                    "is of a class that catsdogs does not have (it has InputLayer, {}, Sequential and Functional)",
                    LayerKind::CLASS_NAMES.join(", ")
                )))
            }
            Some(kind) => kind.map_err(refused)?,
        };
        let output = kind.output_shape(&input).ok_or_else(|| {
            cannot(format!(
                "takes {}, where it needs {}",
                crate::model::keras_shape(&input),
                kind.op().expects()
            ))
        })?;
        let orders: Vec<Option<&[i64]>> = inbound
            .iter()
            .map(|name| {
                name.as_ref()
                    .and_then(|n| self.orders.get(n))
                    .map(Vec::as_slice)
            })
            .collect();
        let order = flat_order(&kind, &input, &orders).map_err(|why| cannot(why.to_string()))?;
        let flatten_input = match (&kind, orders.first()) {
            (LayerKind::Dense(_), Some(Some(maps))) => Some(maps.to_vec()),
            _ => None,
        };
        let weights = self.weights(&at, class, &kind, flatten_input.as_deref())?;
        let mut built = Layer::with_weights(layer.name.clone(), kind, weights)?.with_inputs(inputs);
        built.set_trainable(trainable && flag(&layer.entry["config"], "trainable"));
        let name = layer.name.clone();
        self.shapes.insert(name.clone(), output);
        if let Some(order) = order {
            self.orders.insert(name.clone(), order);
        }
        if let Some(maps) = flatten_input {
            self.flatten_inputs.insert(name.clone(), maps);
        }
        self.layers.push(built);
        self.last = Some(name);
        Ok(())
    }

    /// The inputs a layer names, empty when it takes the layer before it (or, first, the
    /// model's input).
    fn inputs(&self, inbound: &[Option<String>]) -> std::result::Result<Vec<String>, GraphRefusal> {
        if inbound == std::slice::from_ref(&self.last) {
            return Ok(Vec::new());
        }
        inbound
            .iter()
            .map(|name| name.clone().ok_or(GraphRefusal::InputBeside))
            .collect()
    }

    /// The layer's weights in this crate's layout: the file's, in Keras's order, each of the
    /// shape its config makes.
    fn weights(
        &mut self,
        at: &[String],
        class: &str,
        kind: &LayerKind,
        flatten_input: Option<&[i64]>,
    ) -> Result<Vec<Tensor>> {
        let mismatch = |why: String| {
            self.wrong(at, class, format!("{why}: the config and the weights do not belong together; save the model again with Keras"))
        };
        let specs = kind.op().weights();
        let stored = self
            .weights
            .get(at)
            .map_or(&[][..], |l| l.weights.as_slice());
        if stored.len() != specs.len() {
            let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
            return Err(mismatch(format!(
                "has {} weights in the file, where its config makes {} ({})",
                stored.len(),
                specs.len(),
                names.join(", ")
            )));
        }
        let mut tensors = Vec::with_capacity(specs.len());
        for (spec, weight) in specs.iter().zip(stored) {
            let shape = Layout::Keras.shape(kind, spec.name, &spec.shape);
            let found: Vec<i64> = weight.shape.iter().map(|&n| n as i64).collect();
            if found != shape {
                return Err(mismatch(format!(
                    "has its {} of shape {} in the file, where its config makes {}",
                    spec.name,
                    crate::error::fmt_shape(&found),
                    crate::error::fmt_shape(&shape)
                )));
            }
            let Values::F32(values) = &weight.values else {
                return Err(mismatch(format!(
                    "has its {} stored as whole numbers",
                    spec.name
                )));
            };
            let tensor = Tensor::f_from_slice(values)?.f_reshape(&shape)?;
            tensors.push(Layout::Keras.to_own(tensor, kind, spec.name, flatten_input)?);
        }
        self.weights.remove(at);
        Ok(tensors)
    }
}

/// The names of the layers whose outputs a layer's one node takes: Keras 2's
/// `[[["conv", 0, 0, {}], ...]]` or Keras 3's `[{"args": [tensor or [tensors]], ...}]`, each
/// tensor's `keras_history` naming its layer.
fn inbound(entry: &Value) -> std::result::Result<Vec<String>, GraphRefusal> {
    let nodes = entry["inbound_nodes"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let node = match nodes {
        [node] => node,
        [] => return Err(GraphRefusal::NotCalled),
        more => return Err(GraphRefusal::Shared(more.len())),
    };
    let mut histories = Vec::new();
    match node {
        Value::Array(tensors) => histories.extend(tensors.iter()),
        other => collect_histories(&other["args"], &mut histories),
    }
    histories
        .into_iter()
        .map(|history| match history.as_array().map(Vec::as_slice) {
            Some([Value::String(name), node, tensor, ..]) => {
                if node.as_i64() == Some(0) && tensor.as_i64() == Some(0) {
                    Ok(name.clone())
                } else {
                    Err(GraphRefusal::OtherOutput {
                        tensor: tensor.clone(),
                        node: node.clone(),
                        layer: name.clone(),
                    })
                }
            }
            _ => Err(GraphRefusal::Inbound(history.clone())),
        })
        .collect()
}

/// The `keras_history` of every Keras 3 tensor in `value`, in order.
fn collect_histories<'a>(value: &'a Value, histories: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_histories(v, histories)),
        Value::Object(map) if map.get("class_name") == Some(&Value::from("__keras_tensor__")) => {
            histories.push(&value["config"]["keras_history"]);
        }
        _ => {}
    }
}

/// The layer names of a model's `input_layers` or `output_layers`: Keras 2's
/// `[["image", 0, 0]]` or Keras 3's `["image", 0, 0]`.
fn tensor_names(value: &Value) -> Vec<String> {
    match value.as_array().map(Vec::as_slice) {
        Some([Value::String(name), Value::Number(_), Value::Number(_)]) => vec![name.clone()],
        Some(items) => items
            .iter()
            .filter_map(|item| item[0].as_str().map(str::to_string))
            .collect(),
        None => Vec::new(),
    }
}

/// The batch shape of the model's input (`[null, 32, 32, 3]`) and the name of the layer that
/// gives it: its `InputLayer`'s, else (a Sequential) its first layer's `batch_input_shape`,
/// its `build_input_shape` or its nested model's.
fn batch_shape(model: &ConfigLayer) -> Option<(String, Value)> {
    let config = &model.entry["config"];
    let listed = config["layers"].as_array().or_else(|| config.as_array());
    let entries = listed.map_or(&[][..], Vec::as_slice);
    // A Sequential's first entry gives it; a functional model's InputLayer, wherever it is.
    let candidates = match model.class_name.as_str() {
        "Sequential" => &entries[..entries.len().min(1)],
        _ => entries,
    };
    for entry in candidates {
        let layer = &entry["config"];
        let shape = layer
            .get("batch_shape")
            .or_else(|| layer.get("batch_input_shape"));
        if let Some(shape) = shape.filter(|s| !s.is_null()) {
            let name = layer["name"].as_str().unwrap_or("input").to_string();
            return Some((name, shape.clone()));
        }
    }
    let built = [
        &config["build_input_shape"],
        &model.entry["build_config"]["input_shape"],
    ];
    if let Some(shape) = built.into_iter().find(|s| s.is_array()) {
        return Some((model.name.clone(), shape.clone()));
    }
    let first = model.layers.as_deref()?.first()?;
    is_model(&first.class_name)
        .then(|| batch_shape(first))
        .flatten()
}

/// One input sample's shape, this crate's layout (`[3, height, width]`), if the model takes
/// RGB images of a fixed size.
fn input_shape(model: &ConfigLayer, path: &Path) -> Result<Vec<i64>> {
    let Some((name, shape)) = batch_shape(model) else {
        return Err(Error::KerasInvalid {
            path: path.to_path_buf(),
            part: "the model's config".into(),
            why: "gives no input shape (no InputLayer): build the model on an Input of a fixed size, then save it again".into(),
        });
    };
    let max = i64::from(MAX_TARGET_SIDE);
    let side = |v: &Value| v.as_i64().filter(|n| (1..=max).contains(n));
    match shape.as_array().map(Vec::as_slice) {
        Some([batch, height, width, channels])
            if batch.is_null() && channels.as_i64() == Some(3) =>
        {
            if let (Some(h), Some(w)) = (side(height), side(width)) {
                return Ok(vec![3, h, w]);
            }
        }
        _ => {}
    }
    let shown = shape.to_string().replace("null", "None");
    Err(Error::KerasLayer {
        path: path.to_path_buf(),
        layer: name,
        class: "InputLayer".into(),
        why: format!(
            "takes {shown}, where catsdogs runs RGB images of a fixed size, (None, height, width, 3) with 1 to {max} pixels a side: save the model built on Input(shape=(height, width, 3))"
        ),
    })
}
