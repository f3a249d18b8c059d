//! A stack of layers run one after the other: what [`crate::vgg16::Vgg16`] and
//! [`super::Sequential`] are made of. Running any range of it, finding a layer by name, the
//! `trainable` flags, parameters and their content hash are written once, here.

use std::ops::Range;

use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use super::{keras_shape, trainable_params, Layer};
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
}

impl Stack {
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

    /// Runs layers `range` on `x`, the input of the range's first layer, computed as `compute`
    /// says.
    pub(crate) fn forward_range(
        &self,
        x: &Tensor,
        range: Range<usize>,
        train: bool,
        compute: Compute,
    ) -> Result<Tensor> {
        let layers = self.layers.get(range.clone()).ok_or_else(|| Error::Range {
            model: self.name.clone(),
            start: range.start,
            end: range.end,
            len: self.layers.len(),
        })?;
        let mut x = x.shallow_clone();
        for layer in layers {
            x = layer.forward_with(&x, train, compute)?;
        }
        Ok(x)
    }

    /// The shape of one sample at the output of each layer.
    pub(crate) fn output_shapes(&self) -> Vec<Vec<i64>> {
        let mut shape = self.input_shape.clone();
        self.layers
            .iter()
            .map(|layer| {
                shape = layer.kind().output_shape(&shape);
                shape.clone()
            })
            .collect()
    }

    /// Summary rows (`"name (Class)"`, Keras shape, parameters, trainable parameters) of the
    /// layers from index `start` on.
    pub(crate) fn summary_rows(&self, start: usize) -> Vec<(String, String, i64, i64)> {
        let shapes = self.output_shapes();
        self.layers
            .iter()
            .zip(&shapes)
            .skip(start)
            .map(|(layer, shape)| {
                (
                    format!("{} ({})", layer.name(), layer.kind().class_name()),
                    keras_shape(shape),
                    layer.count_params(),
                    trainable_params(layer),
                )
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

    pub(crate) fn named_parameters(&self, trainable_only: bool) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .filter(|l| l.trainable() || !trainable_only)
            .flat_map(Layer::named_weights)
            .collect()
    }

    /// SHA-256 (hex) of the kinds and weights of layers `range`: equal hashes mean the range
    /// computes the same function. Names do not count.
    pub(crate) fn parameters_hash(&self, range: Range<usize>) -> Result<String> {
        let layers = self.layers.get(range.clone()).ok_or(Error::Range {
            model: self.name.clone(),
            start: range.start,
            end: range.end,
            len: self.layers.len(),
        })?;
        let mut hasher = Sha256::new();
        for layer in layers {
            let kind = serde_json::to_string(layer.kind()).expect("layer kinds serialise");
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
