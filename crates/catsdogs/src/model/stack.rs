//! The layers of a network in Keras's order, with how they connect ([`Graph`]): what
//! [`crate::applications::Network`] and [`super::Sequential`] are made of. Running any range of
//! it, finding a layer by name, the `trainable` flags, parameters and their content hash are
//! written once, here.

use std::ops::Range;

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use super::graph::Graph;
use super::summary::{keras_shape, Row};
use super::Layer;
use crate::error::{Error, Result};
use crate::hashing::hex;
use crate::precision::Compute;
use crate::tensor_file;

/// Layers with the shape of one input sample (NCHW without the batch axis): what a network is
/// made of. Its parts are the crate's own; other crates see it only as a [`super::ConvBase`]'s.
#[derive(Debug)]
pub struct Stack {
    pub(crate) name: String,
    pub(crate) input_shape: Vec<i64>,
    pub(crate) layers: Vec<Layer>,
    graph: Graph,
}

impl Stack {
    /// The stack `name` of `layers` for input samples of `input_shape`; a sentence saying what
    /// is wrong if a layer takes one that does not come before it (see [`Graph::of`]).
    pub(crate) fn new(
        name: impl Into<String>,
        input_shape: Vec<i64>,
        layers: Vec<Layer>,
    ) -> Result<Stack, String> {
        let graph = Graph::of(&layers)?;
        Ok(Stack {
            name: name.into(),
            input_shape,
            layers,
            graph,
        })
    }

    /// Adds a layer that takes the last layer's output.
    pub(crate) fn push(&mut self, layer: Layer) {
        self.layers.push(layer);
        self.graph = Graph::of(&self.layers).expect("a layer that takes the last one connects");
    }

    /// Whether every layer can take what flows into it (see [`Graph::check`]).
    pub(crate) fn check(&self) -> Result<(), String> {
        self.graph.check(&self.layers, &self.input_shape)
    }

    /// Whether every layer takes the one before it, as in VGG: Keras then prints the summary
    /// without its "Connected to" column.
    pub(crate) fn is_chain(&self) -> bool {
        self.layers.iter().all(|layer| layer.inputs().is_empty())
    }

    /// The index of the layer called `name`.
    pub(crate) fn layer_index(&self, name: &str) -> Result<usize> {
        self.layers
            .iter()
            .position(|l| l.name() == name)
            .ok_or_else(|| Error::UnknownLayer {
                model: self.name.clone(),
                layer: name.to_string(),
                known: self.layers.iter().map(|l| l.name().to_string()).collect(),
            })
    }

    /// The layers of `range`, or an error naming the model and its length.
    fn checked(&self, range: Range<usize>) -> Result<&[Layer]> {
        self.layers.get(range.clone()).ok_or_else(|| Error::Range {
            model: self.name.clone(),
            start: range.start,
            end: range.end,
            len: self.layers.len(),
        })
    }

    /// Runs layers `range` on `x`, the tensor that flows into the range's first layer (the
    /// output of the layer before it, in a chain), computed as `compute` says.
    pub(crate) fn forward_range(
        &self,
        x: &Tensor,
        range: Range<usize>,
        train: bool,
        compute: Compute,
    ) -> Result<Tensor> {
        self.checked(range.clone())?;
        self.graph
            .run(&self.layers, &self.name, x, range, train, compute)
    }

    /// The last index at or before `index` where one tensor alone flows into the rest of the
    /// network: where a cached output can stand for everything before it.
    pub(crate) fn cut_before(&self, index: usize) -> usize {
        (0..=index.min(self.layers.len()))
            .rev()
            .find(|&i| self.graph.is_cut(i))
            .unwrap_or(0)
    }

    /// The shape of one sample at the output of each layer.
    pub(crate) fn output_shapes(&self) -> Vec<Vec<i64>> {
        self.graph.shapes(&self.layers, &self.input_shape)
    }

    /// The shape of one sample of the tensor that flows into layer `start` (the input's for
    /// 0), at a cut (see [`Stack::cut_before`]).
    pub(crate) fn shape_into(&self, start: usize) -> Vec<i64> {
        match self.graph.entry(start..self.layers.len()) {
            Some(source) if source > 0 => self.output_shapes()[source - 1].clone(),
            _ => self.input_shape.clone(),
        }
    }

    /// Summary rows (`"name (Class)"`, Keras shape, parameters, trainable parameters, the
    /// layers it takes) of the layers from index `start` on.
    pub(crate) fn summary_rows(&self, start: usize) -> Vec<Row> {
        let shapes = self.output_shapes();
        self.layers
            .iter()
            .zip(&shapes)
            .enumerate()
            .skip(start)
            .map(|(i, (layer, shape))| {
                let connected = self
                    .graph
                    .inputs_of(&self.layers, i)
                    .iter()
                    .map(|name| format!("{name}[0][0]"))
                    .collect();
                Row::new(
                    format!("{} ({})", layer.name(), layer.kind().class_name()),
                    keras_shape(shape),
                    (layer.count_params(), layer.count_trainable_params()),
                )
                .connected_to(connected)
            })
            .collect()
    }

    /// Layers before `name` frozen, `name` and every later layer trainable.
    pub(crate) fn trainable_from(&mut self, name: &str) -> Result<()> {
        let start = self.layer_index(name)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.set_trainable(i >= start);
        }
        Ok(())
    }

    pub(crate) fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<()> {
        let index = self.layer_index(name)?;
        self.layers[index].set_trainable(trainable);
        Ok(())
    }

    /// Every weight, or only those the optimizer updates.
    pub(crate) fn named_parameters(&self, trainable_only: bool) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .flat_map(|layer| {
                if trainable_only {
                    layer.trainable_weights()
                } else {
                    layer.named_weights()
                }
            })
            .collect()
    }

    /// SHA-256 (hex) of the kinds, connections and weights of layers `range`: equal hashes
    /// mean the range computes the same function. Names do not count, except those of the
    /// layers a layer takes when it names them.
    pub(crate) fn parameters_hash(&self, range: Range<usize>) -> Result<String> {
        let layers = self.checked(range)?;
        let mut hasher = Sha256::new();
        for layer in layers {
            let mut kind = serde_json::to_string(layer.kind()).expect("layer kinds serialise");
            if !layer.inputs().is_empty() {
                kind.push_str(&layer.inputs().join(","));
            }
            hasher.update((kind.len() as u64).to_le_bytes());
            hasher.update(kind.as_bytes());
            for weight in layer.weights() {
                hasher.update(tensor_file::bytes(weight, Kind::Float)?);
            }
        }
        Ok(hex(&hasher.finalize()))
    }

    pub(crate) fn move_to(&mut self, device: Device) {
        for layer in &mut self.layers {
            layer.move_to(device);
        }
    }

    pub(crate) fn count_params(&self) -> i64 {
        self.layers.iter().map(Layer::count_params).sum()
    }
}
