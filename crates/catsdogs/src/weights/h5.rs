//! Keras's HDF5 weights layout (`model.save_weights`, and the official VGG16 files): the root
//! attribute `layer_names` lists every layer; each layer is a group whose attribute
//! `weight_names` lists its datasets in Keras's order (kernel, then bias), e.g.
//! `block1_conv1/block1_conv1_W_1:0`. Layers without weights are empty groups. A full-model
//! file (`model.save`) keeps the same layout under `model_weights`, which
//! [`keras_file`](super::keras_file) reads; both are read by its Keras 2 reader.

use std::path::Path;

use tch::Tensor;

use super::keras_file::h5_read::H5;
use super::keras_file::{keras2, Values};
use crate::error::Result;

pub(super) use super::keras_file::h5_read::SIGNATURE;

/// A layer's weights in Keras's order: (dataset name, tensor).
pub(super) type LayerWeights = Vec<(String, Tensor)>;

/// Every layer of the file with weights, in order, with its weights.
pub(super) fn read_keras(path: &Path) -> Result<Vec<(String, LayerWeights)>> {
    let h5 = H5::open(path, "Keras HDF5 weights")?;
    let root = h5.required_group("")?;
    let (group, at) = match h5.group("model_weights")? {
        // A whole-model file keeps the layout under `model_weights`.
        Some(weights) if h5.strings(&root, "", "layer_names")?.is_none() => {
            (weights, "model_weights")
        }
        _ => (root, ""),
    };
    let mut groups: Vec<(String, LayerWeights)> = Vec::new();
    for layer in keras2::read_layers(&h5, &group, at)? {
        let weights = layer
            .weights
            .into_iter()
            .map(|weight| {
                let shape: Vec<i64> = weight.shape.iter().map(|&d| d as i64).collect();
                let tensor = match weight.values {
                    Values::F32(values) => Tensor::from_slice(&values),
                    Values::I64(values) => Tensor::from_slice(&values),
                };
                Ok((weight.name, tensor.f_reshape(&shape)?))
            })
            .collect::<Result<LayerWeights>>()?;
        // The layer's group, whatever the names of its weights say.
        let group = layer.path[0].clone();
        match groups.last_mut() {
            Some((name, tensors)) if *name == group => tensors.extend(weights),
            _ => groups.push((group, weights)),
        }
    }
    Ok(groups)
}
