//! Keras's whole-model files as this crate's [`Model`], both ways: [`load_model`] reads what
//! Keras's `model.save` wrote (Keras 2's `.h5`, Keras 3's `.keras`; our own model files too),
//! and [`Model::save_keras`] writes a model as Keras would have saved it, so that
//! `keras.models.load_model` (`.keras`) and `tf_keras.models.load_model` (`.h5`) read it and
//! predict what it predicts here.
//!
//! The file's bytes are [`super::keras_file`]'s; what they mean is here: `read` builds the
//! model (each layer's config is read by its kind, [`crate::model::KerasLayer`]), `compile`
//! restores what Keras's `compile` gave it, and `write` describes a model in Keras's terms.
//! Weights change layout on the way ([`super::layout`]): HWIO kernels to OIHW, and the rows of
//! a `Dense` after a `Flatten` of maps, which Keras flattens channels last and this crate
//! channels first, permuted.
//!
//! ```
//! use catsdogs::applications::Backbone;
//! use catsdogs::model::{Activation, Sequential};
//! use catsdogs::optimizers::RMSprop;
//! use catsdogs::losses::Loss;
//! use catsdogs::weights::load_model;
//! let dir = tempfile::tempdir().unwrap();
//! let base = Backbone::Vgg16.application(false).input_size(32, 32).build(tch::Device::Cpu)?;
//! let mut model = Sequential::new(&base).flatten().dense(1, Activation::Sigmoid);
//! model.freeze_base();
//! model.compile(RMSprop::new(2e-5), Loss::BinaryCrossentropy);
//! model.save_keras(dir.path().join("model.keras"))?;
//! let again = load_model(dir.path().join("model.keras"))?;
//! assert_eq!(again.summary(), model.summary());
//! assert_eq!(again.compiled()?.optimizer.config(), "RMSprop(lr=2e-5, rho=0.9, epsilon=1e-7)");
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod compile;
mod read;
mod write;

use std::path::Path;

use tch::{Kind, Tensor};

use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::model::{keras_shape, LayerKind, Model};
use crate::tensor_file;
use crate::weights::keras_file::{KerasFile, KerasFormat, Values, Weight};

/// The entry of a `.keras` file's `metadata.json` that says how the model's images are
/// preprocessed (Keras's own files do not say).
const PREPROCESS_KEY: &str = "catsdogs_preprocess";

/// Keras's `load_model(path)`: the model in a Keras 2 `.h5` or Keras 3 `.keras` file (or one
/// that [`Model::save`] wrote), told apart by content, with its weights, `trainable` flags and,
/// where this crate has them, the optimizer and loss it was compiled with and the optimizer's
/// state, so that `fit` carries on; on [`crate::device()`]. A layer or an input this crate
/// cannot run is refused in one sentence that names it and where it sits.
pub fn load_model(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    if tensor_file::is_safetensors(&super::head(path)?) {
        return Model::load(path, crate::device());
    }
    let file = KerasFile::read(path)?;
    let read = read::read(&file, path)?;
    let preprocess = file
        .metadata
        .as_ref()
        .and_then(|m| serde_json::from_value::<Preprocess>(m[PREPROCESS_KEY].clone()).ok());
    let mut model = read
        .model
        .with_preprocess(preprocess.unwrap_or(Preprocess::None));
    model.to(crate::device());
    compile::compile(&mut model, &file, path, &read.flatten_inputs)?;
    Ok(model)
}

impl Model {
    /// Keras's `model.save(path)`: a `.keras` file as Keras 3 writes it, or an `.h5` file as
    /// Keras 2 (tf_keras) writes it, by the path's extension; written atomically. The weights,
    /// `trainable` flags, what [`compile`](Model::compile) gave the model and the optimizer's
    /// state go in, and the preprocessing too in a `.keras` file's metadata (Keras runs the
    /// model on images preprocessed as [`Model::preprocess`] says). A layer Keras cannot say
    /// (PyTorch's symmetric padding in torchvision's networks) is refused in one sentence.
    pub fn save_keras(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        let format = match extension.to_ascii_lowercase().as_str() {
            "keras" => KerasFormat::Keras3Zip,
            "h5" | "hdf5" => KerasFormat::Keras2H5,
            _ => return Err(Error::KerasExport {
                path: path.to_path_buf(),
                model: self.name().to_string(),
                why:
                    "Keras's model files end in .keras (Keras 3) or .h5 (Keras 2): name the file so"
                        .into(),
            }),
        };
        write::keras_file(self, format, path)?.write(path)
    }
}

/// Whether a Keras class is a model (a nested one, in a config).
fn is_model(class: &str) -> bool {
    matches!(class, "Sequential" | "Functional" | "Model")
}

/// The order of the features that a layer of `kind` gives, for inputs of shape `input` whose
/// features are in `orders`: `Some(maps)` when they are a `Flatten`'s features of `maps`
/// (`[channels, height, width]`, more than one pixel), which this crate orders channels first
/// and Keras channels last. Only layers that keep each feature where it is pass them on, and
/// only a `Dense` (whose kernel's rows are permuted) takes them; any other layer is refused.
fn flat_order(
    kind: &LayerKind,
    input: &[i64],
    orders: &[Option<&[i64]>],
) -> std::result::Result<Option<Vec<i64>>, GraphRefusal> {
    let order = orders.first().copied().flatten().map(<[i64]>::to_vec);
    match kind {
        LayerKind::Flatten(_) => Ok(match input {
            [_, h, w] if h * w > 1 => Some(input.to_vec()),
            _ => order,
        }),
        LayerKind::Dropout(_)
        | LayerKind::Activation(_)
        | LayerKind::Relu(_)
        | LayerKind::Rescaling(_) => Ok(order),
        LayerKind::Dense(_) => Ok(None),
        _ => match orders.iter().flatten().next() {
            Some(maps) => Err(GraphRefusal::FlattenFeatures(maps.to_vec())),
            None => Ok(None),
        },
    }
}

/// Why a layer of a Keras model's graph cannot be one of this crate's; it reads as a phrase
/// about the layer ("is called 2 times (a shared layer), ...").
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
enum GraphRefusal {
    /// A layer other than a `Dense` that takes a `Flatten`'s features of these maps.
    #[error("takes the features of a Flatten of {} maps, which catsdogs orders channels first where Keras orders them channels last: only a Dense (after Dropout or Activation layers) may take them", keras_shape(.0))]
    FlattenFeatures(Vec<i64>),
    /// A layer that takes the model's input beside the layer before it.
    #[error("takes the model's input beside the layer before it, where catsdogs's graph starts from the input only once")]
    InputBeside,
    /// A layer without an inbound node.
    #[error("is called on nothing (it has no inbound_nodes)")]
    NotCalled,
    /// A layer called this many times.
    #[error("is called {0} times (a shared layer), where catsdogs's graph calls each layer once")]
    Shared(usize),
    /// A layer that takes another output than the first of the first call of a layer.
    #[error("takes output {tensor} of call {node} of {layer}, where catsdogs's layers are called once with one output")]
    OtherOutput {
        tensor: serde_json::Value,
        node: serde_json::Value,
        layer: String,
    },
    /// An inbound node that Keras does not write.
    #[error("has the inbound node {0}, which is not Keras's")]
    Inbound(serde_json::Value),
}

/// Why a model whose output is a `Flatten`'s features of `maps` cannot be Keras's.
fn unflat_output(maps: &[i64]) -> String {
    format!(
        "gives the features of a Flatten of {} maps as its output, which catsdogs orders channels first where Keras orders them channels last: end the model in a Dense",
        keras_shape(maps)
    )
}

/// A tensor as a stored weight named `name`: float32 values, row-major.
fn weight(name: String, tensor: &Tensor) -> Result<Weight> {
    let tensor = tensor
        .f_detach()?
        .f_to_device(tch::Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?;
    let shape = tensor.size().iter().map(|&n| n as usize).collect();
    let values = Vec::<f32>::try_from(tensor.f_flatten(0, -1)?)?;
    Ok(Weight {
        name,
        shape,
        values: Values::F32(values),
    })
}
