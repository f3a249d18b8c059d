//! VGG16's pretrained weights, Keras's `load_weights`: read from Keras's `.h5` files, from
//! torchvision's `.pth` state dict, or from safetensors, and written to safetensors so that an
//! `.h5` is converted once and then memory-mapped.
//!
//! The format is told from the file's first bytes, never from its name. Every tensor is checked
//! against VGG16's architecture; a missing or misshapen one is an error that names the layer and
//! both shapes. Once loaded, weights are held in this crate's layout (see [`crate::model`]):
//! conv kernels as libtorch's OIHW, dense kernels as Keras's (inputs, units), and `fc1`'s rows in
//! NCHW-flatten order (Keras flattens NHWC, so its `fc1` rows are permuted on import).
//!
//! ```no_run
//! use catsdogs::weights::{Preprocess, Weights};
//! let weights = Weights::load("weights/vgg16_weights_tf_dim_ordering_tf_kernels.h5")?;
//! assert_eq!(weights.preprocess(), Preprocess::Vgg16);
//! weights.save("weights/vgg16.safetensors")?; // loads in a fraction of the time next time
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod h5;
mod pickle;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use tch::{Device, Kind, Tensor};

pub use crate::data::Preprocess;

use crate::error::{fmt_shape, Error, Result};
use crate::model::{Layer, LayerKind};
use crate::tensor_file;
use crate::vgg16::{architecture, Vgg16, TOP_INPUT_SIZE};

/// The file formats [`Weights::load`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// HDF5 in Keras's legacy `save_weights` layout (the official VGG16 files).
    KerasH5,
    /// `torch.save` of a state dict: the zip format (PyTorch 1.6 and later) or the older one.
    TorchSave,
    /// safetensors, as written by [`Weights::save`] (or with torchvision's tensor names).
    Safetensors,
}

/// Tensor names and layouts of the formats.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `block1_conv1/kernel`, kernels HWIO and (inputs, units), `fc1` rows in NHWC order.
    Keras,
    /// `features.0.weight`, kernels OIHW and (units, inputs).
    Torchvision,
    /// `block1_conv1/kernel`, this crate's layout.
    Own,
}

/// A tensor as read from a file, with its name there (for error messages).
struct FileTensor {
    tensor: Tensor,
    name_in_file: String,
}

/// VGG16's weights, loaded and checked, on the CPU.
#[derive(Debug)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    preprocess: Preprocess,
    format: Format,
    path: String,
}

const PREPROCESS_KEY: &str = "catsdogs.preprocess";

impl Weights {
    /// Reads a weights file of any known format, told apart by content: Keras `.h5` (with or
    /// without the top), torchvision `.pth`, or safetensors.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let mut head = [0u8; 16];
        let mut file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let read = file
            .read(&mut head)
            .map_err(|e| Error::io("cannot read", path, e))?;
        let head = &head[..read];
        if head.starts_with(h5::SIGNATURE) {
            let layers = h5::read_keras(path)?;
            let tensors = layers
                .into_iter()
                .flat_map(|(layer, weights)| {
                    weights.into_iter().zip(["kernel", "bias"]).map(
                        move |((name_in_file, tensor), weight)| {
                            let file_tensor = FileTensor {
                                tensor,
                                name_in_file,
                            };
                            (format!("{layer}/{weight}"), file_tensor)
                        },
                    )
                })
                .collect();
            Weights::import(
                tensors,
                Layout::Keras,
                Preprocess::Vgg16,
                Format::KerasH5,
                shown,
            )
        } else if pickle::is_torch_save(head) {
            let tensors = pickle::read_state_dict(path)?;
            Weights::import(
                file_tensors(tensors),
                Layout::Torchvision,
                Preprocess::Torch,
                Format::TorchSave,
                shown,
            )
        } else if tensor_file::is_safetensors(head) {
            let (tensors, metadata) = tensor_file::read(path)?;
            let layout = if tensors.keys().any(|k| k.starts_with("features.")) {
                Layout::Torchvision
            } else {
                Layout::Own
            };
            let recorded = metadata.get(PREPROCESS_KEY).and_then(|p| p.parse().ok());
            let preprocess = recorded.unwrap_or(match layout {
                Layout::Torchvision => Preprocess::Torch,
                Layout::Keras | Layout::Own => Preprocess::Vgg16,
            });
            Weights::import(
                file_tensors(tensors),
                layout,
                preprocess,
                Format::Safetensors,
                shown,
            )
        } else {
            Err(Error::UnknownFormat { path: shown })
        }
    }

    /// Checks every tensor of VGG16 (the top's only if the file has `fc1`) and converts it to
    /// this crate's layout.
    fn import(
        mut file: HashMap<String, FileTensor>,
        layout: Layout,
        preprocess: Preprocess,
        format: Format,
        path: String,
    ) -> Result<Self> {
        let has_top = file.contains_key(&file_name(layout, "fc1", "kernel", 0));
        let mut tensors = BTreeMap::new();
        let mut shape = vec![3, TOP_INPUT_SIZE, TOP_INPUT_SIZE];
        let mut flatten_input = None;
        let mut torch_index = TorchIndex::default();
        for (layer, kind) in architecture(has_top, TOP_INPUT_SIZE, TOP_INPUT_SIZE) {
            let index = torch_index.next(&kind);
            let expected = kind.weight_shapes();
            for (weight, own_shape) in &expected {
                let name = file_name(layout, &layer, weight, index);
                let file_shape = layout.shape(&kind, weight, own_shape);
                let found = file.remove(&name).ok_or_else(|| Error::MissingLayer {
                    path: path.clone(),
                    network: "VGG16",
                    layer: layer.clone(),
                    expected: layout.describe(&layer, &kind, index),
                    hint: if layer == "block1_conv1" {
                        "; is it VGG16's weights?"
                    } else {
                        ""
                    },
                })?;
                if found.tensor.size() != file_shape {
                    return Err(Error::Shape {
                        path,
                        network: "VGG16",
                        layer,
                        weight,
                        name_in_file: found.name_in_file,
                        shapes: Box::new((file_shape, found.tensor.size())),
                    });
                }
                let tensor = found.tensor.f_to_kind(Kind::Float)?;
                let tensor = layout.to_own(tensor, &kind, weight, flatten_input.as_deref())?;
                tensors.insert(format!("{layer}/{weight}"), tensor);
            }
            flatten_input = (kind == LayerKind::Flatten).then(|| shape.clone());
            shape = kind.output_shape(&shape);
        }
        Ok(Weights {
            tensors,
            preprocess,
            format,
            path,
        })
    }

    /// The preprocessing these weights were trained with: [`Preprocess::Vgg16`] (caffe) for
    /// Keras's files, [`Preprocess::Torch`] for torchvision's.
    pub fn preprocess(&self) -> Preprocess {
        self.preprocess
    }

    /// The format the weights were read from.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the file had the top (`fc1`, `fc2`, `predictions`).
    pub fn has_top(&self) -> bool {
        self.tensors.contains_key("fc1/kernel")
    }

    /// One tensor by name (`"block1_conv1/kernel"`, `"fc1/bias"`), in this crate's layout.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// The tensors' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The weights of the layer `name` of kind `kind` (kernel, bias), as
    /// [`crate::model::Layer::with_weights`] takes them.
    pub(crate) fn layer(&self, name: &str, kind: &LayerKind) -> Result<Vec<Tensor>> {
        kind.weight_shapes()
            .iter()
            .map(|(weight, _)| {
                self.tensors
                    .get(&format!("{name}/{weight}"))
                    .map(Tensor::shallow_clone)
                    .ok_or_else(|| Error::NoTop {
                        path: self.path.clone(),
                    })
            })
            .collect()
    }

    /// Writes the weights as safetensors (this crate's names and layout, and the preprocessing
    /// in the metadata), atomically. [`Weights::load`] memory-maps it back.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let tensors: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .map(|(name, t)| (name.clone(), t.shallow_clone()))
            .collect();
        let preprocess = serde_json::to_value(self.preprocess).expect("Preprocess serialises");
        let metadata = HashMap::from([(
            PREPROCESS_KEY.to_string(),
            preprocess.as_str().unwrap_or_default().to_string(),
        )]);
        tensor_file::write(path.as_ref(), &tensors, metadata)
    }
}

/// VGG16 with pretrained weights: Keras's `VGG16(weights='imagenet')`, here because the weights
/// are this module's concern and the network's table is [`crate::vgg16`]'s.
impl Vgg16 {
    /// VGG16 with the given weights (`weights='imagenet'` once loaded). With the top, the weights
    /// must have it too (the notop files do not).
    pub fn from_weights(weights: &Weights, include_top: bool, device: Device) -> Result<Self> {
        let layers = architecture(include_top, TOP_INPUT_SIZE, TOP_INPUT_SIZE)
            .into_iter()
            .map(|(name, kind)| {
                let tensors = weights.layer(&name, &kind)?;
                let mut layer = Layer::with_weights(name, kind, tensors)?;
                layer.move_to(device);
                Ok(layer)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Vgg16::from_layers(layers, include_top))
    }

    /// VGG16 with the weights of a file in any format [`Weights::load`] reads.
    pub fn load(path: impl AsRef<Path>, include_top: bool, device: Device) -> Result<Self> {
        Vgg16::from_weights(&Weights::load(path)?, include_top, device)
    }
}

fn file_tensors(tensors: HashMap<String, Tensor>) -> HashMap<String, FileTensor> {
    tensors
        .into_iter()
        .map(|(name, tensor)| {
            let name_in_file = name.clone();
            (
                name,
                FileTensor {
                    tensor,
                    name_in_file,
                },
            )
        })
        .collect()
}

/// The position of each VGG16 layer in torchvision's `features` (conv, ReLU, ..., pool) and
/// `classifier` (Linear, ReLU, Dropout, ...) sequences.
#[derive(Default)]
struct TorchIndex {
    features: usize,
    classifier: usize,
}

impl TorchIndex {
    fn next(&mut self, kind: &LayerKind) -> usize {
        let (counter, step) = match kind {
            LayerKind::Conv2d { .. } => (&mut self.features, 2),
            LayerKind::MaxPool2d => (&mut self.features, 1),
            LayerKind::Dense { .. } => (&mut self.classifier, 3),
            _ => return 0,
        };
        let index = *counter;
        *counter += step;
        index
    }
}

/// A tensor's name in a file of `layout`: `block1_conv1/kernel`, or `features.0.weight`.
fn file_name(layout: Layout, layer: &str, weight: &str, torch_index: usize) -> String {
    match layout {
        Layout::Keras | Layout::Own => format!("{layer}/{weight}"),
        Layout::Torchvision => {
            let part = if layer.starts_with("block") {
                "features"
            } else {
                "classifier"
            };
            let weight = if weight == "kernel" { "weight" } else { "bias" };
            format!("{part}.{torch_index}.{weight}")
        }
    }
}

impl Layout {
    /// The tensors a layer needs, as named and shaped in this layout, e.g. `kernel (3, 3, 3, 64)
    /// and bias (64,)` or `features.0.weight (64, 3, 3, 3) and features.0.bias (64,)`.
    fn describe(self, layer: &str, kind: &LayerKind, torch_index: usize) -> String {
        let parts: Vec<String> = kind
            .weight_shapes()
            .iter()
            .map(|(weight, own)| {
                let name = match self {
                    Layout::Torchvision => file_name(self, layer, weight, torch_index),
                    Layout::Keras | Layout::Own => weight.to_string(),
                };
                format!("{name} {}", fmt_shape(&self.shape(kind, weight, own)))
            })
            .collect();
        parts.join(" and ")
    }

    /// The shape of a weight in a file of this layout, given its shape in this crate's.
    fn shape(self, kind: &LayerKind, weight: &str, own: &[i64]) -> Vec<i64> {
        match (self, kind, weight) {
            (Layout::Keras, LayerKind::Conv2d { .. }, "kernel") => {
                vec![own[2], own[3], own[1], own[0]]
            }
            (Layout::Torchvision, LayerKind::Dense { .. }, "kernel") => vec![own[1], own[0]],
            _ => own.to_vec(),
        }
    }

    /// Converts a weight from this layout to this crate's. `flatten_input` is the map shape
    /// (C, H, W) that a Flatten right before this layer flattens, if there is one.
    fn to_own(
        self,
        tensor: Tensor,
        kind: &LayerKind,
        weight: &str,
        flatten_input: Option<&[i64]>,
    ) -> Result<Tensor> {
        let converted = match (self, kind, weight, flatten_input) {
            (Layout::Keras, LayerKind::Conv2d { .. }, "kernel", _) => {
                tensor.f_permute([3, 2, 0, 1])?
            }
            // Keras's rows are (h, w, c) of the flattened map, ours (c, h, w).
            (Layout::Keras, LayerKind::Dense { units, .. }, "kernel", Some(&[c, h, w])) => tensor
                .f_reshape([h, w, c, *units])?
                .f_permute([2, 0, 1, 3])?
                .f_reshape([c * h * w, *units])?,
            (Layout::Torchvision, LayerKind::Dense { .. }, "kernel", _) => {
                tensor.f_transpose(0, 1)?
            }
            _ => tensor,
        };
        Ok(converted.f_contiguous()?)
    }
}
