//! Running a model: the whole of it or any range that one tensor flows into, in the precision
//! it computes in, with a tap on each layer's output for those who look inside (Grad-CAM);
//! where a range can start; and the weights as the optimizer and the caches see them.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! tch::manual_seed(0);
//! let base = Backbone::MobileNetV2.application(false).input_size(64, 64).build(tch::Device::Cpu)?;
//! let x = tch::Tensor::zeros([1, 3, 64, 64], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(base.forward(&x)?.size(), [1, 1280, 2, 2]);
//! // Cut between two blocks: the two halves compose to the whole.
//! let half = base.forward_to(&x, "block_12_add")?;
//! assert_eq!(base.forward_from(&half, "block_13_expand")?, base.forward(&x)?);
//! # Ok::<(), catsdogs::Error>(())
//! ```

use std::ops::Range;

use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

use super::Model;
use crate::error::{Error, Result};
use crate::hashing::hex;
use crate::precision::Compute;
use crate::tensor_file;

impl Model {
    /// How the layers compute on the model's device: as [`Model::with_compute`] said, else
    /// the precision resolved there (an error says when it cannot be had there).
    pub fn compute(&self) -> Result<Compute> {
        match self.compute {
            Some(compute) => Ok(compute),
            None => self.precision.resolve(self.device()),
        }
    }

    /// Runs the whole model on a batch (NCHW) for inference: preprocessed images in, the
    /// model's output out (with an ImageNet top, the 1000 class probabilities of each image).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_t(x, false)
    }

    /// Runs the whole model on a batch; `train` turns dropout on (and batch statistics for
    /// trainable batch normalisations).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_range(x, 0..self.layers.len(), train)
    }

    /// Runs the model on a batch of images up to and including the layer `name`, e.g.
    /// `block4_pool`.
    pub fn forward_to(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let end = self.layer_index(name)? + 1;
        self.forward_range(x, 0..end, false)
    }

    /// Runs the model from the layer `name` on, given the tensor that flows into it (the
    /// output of the layer before it, e.g. `block4_pool`'s for `block5_conv1`); an error when
    /// `name` is inside a residual block, where two tensors flow in.
    pub fn forward_from(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let start = self.layer_index(name)?;
        self.forward_range(x, start..self.layers.len(), false)
    }

    /// Runs layers `range` on `x`, the tensor that flows into layer `range.start` (for example
    /// a cached output of layer `range.start - 1`), computed as [`Model::compute`] says.
    pub fn forward_range(&self, x: &Tensor, range: Range<usize>, train: bool) -> Result<Tensor> {
        self.run(x, range, train, self.compute()?)
    }

    /// Runs layers `range` on `x` computed as `compute` says (as a pass that resolved it once
    /// does).
    pub(crate) fn run(
        &self,
        x: &Tensor,
        range: Range<usize>,
        train: bool,
        compute: Compute,
    ) -> Result<Tensor> {
        self.run_tapped(x, range, train, compute, &mut |_, y| Ok(y))
    }

    /// Runs layers `range` on `x` computed as `compute` says, each layer's output (with its
    /// index) going through `tap`, whose answer is what the later layers take: Grad-CAM makes
    /// one layer's output a leaf whose gradient it reads. The input of the first layer is
    /// checked against its shape, and each output is dropped once no later layer of the range
    /// needs it.
    pub(crate) fn run_tapped(
        &self,
        x: &Tensor,
        range: Range<usize>,
        train: bool,
        compute: Compute,
        tap: &mut dyn FnMut(usize, Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        self.check()?;
        if range.start > range.end || range.end > self.layers.len() {
            return Err(Error::Range {
                model: self.name.clone(),
                start: range.start,
                end: range.end,
                len: self.layers.len(),
            });
        }
        let size = x.size();
        let fits = |size: &[i64]| {
            size.len() == self.input_shape().len() + 1
                && (size[1..] == *self.input_shape()
                    || self.graph.takes(&self.layers, &size[1..], range.end))
        };
        if range.start == 0 && !fits(&size) {
            let built = self.input_shape();
            return Err(Error::Input {
                what: self.name.clone(),
                expected: match built {
                    [channels, height, width] => format!(
                        "NCHW input of {channels} channels and a size its layers take (it was built for {height}x{width})"
                    ),
                    other => format!("input of shape {other:?} per sample"),
                },
                found: size,
            });
        }
        self.graph
            .run(&self.layers, &self.name, x, range, train, compute, tap)
    }

    /// The last index at or before `index` where one tensor alone flows into the rest of the
    /// model, so that layers from there on can run on it alone: `index` itself in a chain of
    /// layers, the start of the residual block that holds it in ResNet50 or MobileNetV2.
    ///
    /// ```
    /// use catsdogs::applications::Backbone;
    /// let model = Backbone::ResNet50.application(false).build(tch::Device::Cpu)?;
    /// let inside = model.layer_index("conv5_block1_2_conv")?;
    /// assert_eq!(model.layers()[model.cut_before(inside)].name(), "conv5_block1_1_conv");
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn cut_before(&self, index: usize) -> usize {
        (0..=index.min(self.layers.len()))
            .rev()
            .find(|&i| self.graph.is_cut(i))
            .unwrap_or(0)
    }

    /// The shape of one sample of the tensor that flows into layer `index` (the input's for
    /// 0), where [`Model::cut_before`] is `index`.
    pub fn shape_into(&self, index: usize) -> Vec<i64> {
        match self.graph.entry(index..self.layers.len()) {
            Some(source) if source > 0 => self.output_shapes()[source - 1].clone(),
            _ => self.input_shape().to_vec(),
        }
    }

    /// Every weight with its name (`"block1_conv1/kernel"`, `"dense_1/bias"`, ...), sharing
    /// storage with the model's own.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().flat_map(|l| l.named_weights()).collect()
    }

    /// The weights of trainable layers, named as in [`Model::named_parameters`]: what the
    /// optimizer updates.
    pub fn trainable_parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .flat_map(|l| l.trainable_weights())
            .collect()
    }

    /// All parameters, as Keras counts them: VGG16 138,357,544 with the top and 14,714,688
    /// without; VGG19 143,667,240 and 20,024,384; ResNet50 25,636,712 and 23,587,712;
    /// MobileNetV2 3,538,984 and 2,257,984.
    pub fn count_params(&self) -> i64 {
        self.layers.iter().map(|l| l.count_params()).sum()
    }

    /// SHA-256 (hex) of the kinds, connections and weights of layers `range`: equal hashes
    /// mean the range computes the same function, a cache key for their outputs. Names do not
    /// count, except those of the layers a layer takes when it names them.
    pub fn parameters_hash(&self, range: Range<usize>) -> Result<String> {
        let layers = self.layers.get(range.clone()).ok_or_else(|| Error::Range {
            model: self.name.clone(),
            start: range.start,
            end: range.end,
            len: self.layers.len(),
        })?;
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
}
