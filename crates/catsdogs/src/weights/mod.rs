//! Pretrained weights, Keras's `load_weights`: read from Keras's `.h5` files (the legacy
//! layout of VGG16's and VGG19's files, `block1_conv1_W_1:0`, and Keras 2's of ResNet50's and
//! MobileNetV2's, `conv1_conv/kernel:0`: each layer's weights in order either way), from
//! torchvision's `.pth` state dicts, or from safetensors, and written to safetensors so that an
//! `.h5` is converted once and then memory-mapped.
//!
//! The format is told from the file's first bytes and the network from its tensors, never from
//! its name. Every tensor is checked against the network's table; a missing or misshapen one is
//! an error that names the layer and both shapes, and a file of another network than the one
//! asked for says what it holds. Once loaded, weights are held in this crate's layout (see
//! [`crate::model`]): kernels as libtorch's OIHW, dense kernels as Keras's (inputs, units), and
//! `fc1`'s rows in NCHW-flatten order (Keras flattens NHWC, so its `fc1` rows are permuted on
//! import).
//!
//! Keras's whole-model files (Keras 2's `.h5` and Keras 3's `.keras`, with the model's config
//! and the optimizer's variables) are read and written as plain data by [`keras_file`], whose
//! Keras 2 reader also reads the `.h5` weights files here; [`load_model`] makes a model of one,
//! and [`Model::save_keras`] one of a model.
//!
//! torchvision's `resnet50` and `mobilenet_v2` map onto the same layers, but their networks
//! differ from Keras's in places (see [`crate::applications::resnet50`] and
//! [`crate::applications::mobilenet_v2`]): their weights build the torchvision
//! [`Flavor`] of the network, which computes what torchvision computes.
//!
//! ```no_run
//! use catsdogs::applications::Backbone;
//! use catsdogs::weights::{Preprocess, Weights};
//! let weights = Weights::load("weights/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")?;
//! assert_eq!(weights.backbone(), Backbone::ResNet50);
//! assert_eq!(weights.preprocess(), Preprocess::Vgg16); // caffe
//! weights.save("weights/resnet50_notop.safetensors")?; // loads in a fraction of the time next time
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod h5;
mod identify;
pub mod keras_file;
mod keras_model;
mod layout;
mod pickle;
mod torchvision;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use tch::{Device, Tensor};

pub use crate::data::Preprocess;
pub use keras_model::load_model;

use crate::applications::{Application, Backbone, Flavor, Pooling, TOP_INPUT_SIZE};
use crate::error::{Error, Result};
use crate::model::{Layer, LayerKind, LayerSpec, Model};
use crate::tensor_file;
use layout::Layout;
use torchvision::VggIndex;

/// The file formats [`Weights::load`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// HDF5 in one of Keras's `save_weights` layouts (the official files).
    KerasH5,
    /// `torch.save` of a state dict: the zip format (PyTorch 1.6 and later) or the older one.
    TorchSave,
    /// safetensors, as written by [`Weights::save`] (or with torchvision's tensor names).
    Safetensors,
}

/// A tensor as read from a file, with its name there (for error messages).
struct FileTensor {
    tensor: Tensor,
    name_in_file: String,
}

/// A file's tensors before they are checked, keyed by their names in `layout` (for Keras's
/// files, `{layer}/{position}`: a layer's weights are matched by their order, as Keras does).
struct Contents {
    tensors: HashMap<String, FileTensor>,
    layout: Layout,
}

/// A network's weights, loaded and checked, on the CPU.
#[derive(Debug)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    backbone: Backbone,
    flavor: Flavor,
    preprocess: Preprocess,
    format: Format,
    path: PathBuf,
}

const PREPROCESS_KEY: &str = "catsdogs.preprocess";
const BACKBONE_KEY: &str = "catsdogs.backbone";
const FLAVOR_KEY: &str = "catsdogs.flavor";

/// Other names Keras's files give a network's top layer (written before it was `predictions`).
fn keras_aliases(backbone: Backbone, layer: &str) -> &'static [&'static str] {
    match (backbone, layer) {
        (Backbone::ResNet50, "predictions") => &["probs", "fc1000"],
        (Backbone::MobileNetV2, "predictions") => &["Logits"],
        _ => &[],
    }
}

/// A file's first bytes (up to 16), which tell its format.
fn head(path: &Path) -> Result<Vec<u8>> {
    let mut head = [0u8; 16];
    let mut file = crate::fsutil::open_file(path)?;
    let read = file
        .read(&mut head)
        .map_err(|e| Error::io("cannot read", path, e))?;
    Ok(head[..read].to_vec())
}

/// The text of a metadata entry as a value of `T` (its serde name).
fn parsed<T: serde::de::DeserializeOwned>(
    metadata: &HashMap<String, String>,
    key: &str,
) -> Option<T> {
    let text = metadata.get(key)?;
    serde_json::from_value(serde_json::Value::String(text.clone())).ok()
}

impl Weights {
    /// Reads a weights file of any known format, told apart by content: Keras `.h5` (with or
    /// without the top), torchvision `.pth`, or safetensors; the network is told by its layers.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let head = &head(path)?;
        let (contents, format, metadata) = if head.starts_with(h5::SIGNATURE) {
            let tensors = h5::read_keras(path)?
                .into_iter()
                .flat_map(|(layer, weights)| {
                    weights
                        .into_iter()
                        .enumerate()
                        .map(move |(i, (name_in_file, tensor))| {
                            let file_tensor = FileTensor {
                                tensor,
                                name_in_file,
                            };
                            (format!("{layer}/{i}"), file_tensor)
                        })
                })
                .collect();
            let contents = Contents {
                tensors,
                layout: Layout::Keras,
            };
            (contents, Format::KerasH5, HashMap::new())
        } else if pickle::is_torch_save(head) {
            let tensors = pickle::read_state_dict(path)?;
            (
                named(tensors, Layout::Torchvision),
                Format::TorchSave,
                HashMap::new(),
            )
        } else if tensor_file::is_safetensors(head) {
            let (tensors, metadata) = tensor_file::read(path)?;
            let torchvision = tensors.keys().any(|k| {
                k.starts_with("features.") || k.starts_with("conv1.") || k.starts_with("layer1.")
            });
            let layout = if torchvision {
                Layout::Torchvision
            } else {
                Layout::Own
            };
            (named(tensors, layout), Format::Safetensors, metadata)
        } else {
            return Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            });
        };
        let backbone =
            parsed(&metadata, BACKBONE_KEY).unwrap_or_else(|| identify::backbone(&contents));
        identify::check_variant(&contents, backbone, path)?;
        let flavor = parsed(&metadata, FLAVOR_KEY).unwrap_or(identify::flavor(contents.layout));
        let preprocess = parsed(&metadata, PREPROCESS_KEY).unwrap_or(match flavor {
            Flavor::Torchvision => Preprocess::Torch,
            Flavor::Keras => backbone.preprocess(),
        });
        let tensors = import(contents, backbone, flavor, path)?;
        Ok(Weights {
            tensors,
            backbone,
            flavor,
            preprocess,
            format,
            path: path.to_path_buf(),
        })
    }

    /// The network these weights are for.
    pub fn backbone(&self) -> Backbone {
        self.backbone
    }

    /// Whose definition of the network they were trained in: Keras's, or torchvision's.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The preprocessing these weights were trained with: Keras's for its files (caffe for the
    /// VGGs and ResNet50, tf for MobileNetV2), [`Preprocess::Torch`] for torchvision's.
    pub fn preprocess(&self) -> Preprocess {
        self.preprocess
    }

    /// The format the weights were read from.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the file had the top (`fc1`, `fc2`, `predictions`; `predictions` alone for
    /// ResNet50 and MobileNetV2).
    pub fn has_top(&self) -> bool {
        self.tensors.contains_key("predictions/kernel")
    }

    /// One tensor by name (`"block1_conv1/kernel"`, `"fc1/bias"`), in this crate's layout.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// The tensors' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// An error unless these are `backbone`'s weights: one sentence naming the file, what it
    /// holds and what was asked for (with `--model` under the command line).
    pub fn expect(&self, backbone: Backbone) -> Result<()> {
        self.expect_asked_with(backbone, "--model")
    }

    /// As [`expect`](Self::expect), for a command whose flag `flag` asks for the network (such
    /// as `train`'s `--backbone`).
    pub fn expect_asked_with(&self, backbone: Backbone, flag: &str) -> Result<()> {
        identify::expect(&self.path, self.backbone, backbone, flag)
    }

    /// The weights of the layer `name` of kind `kind` (in [`LayerKind::weight_shapes`]'s
    /// order), as [`crate::model::Layer::with_weights`] takes them; a top's layer missing from
    /// a notop file is an error that says so.
    pub(crate) fn layer(&self, name: &str, kind: &LayerKind) -> Result<Vec<Tensor>> {
        kind.weight_shapes()
            .iter()
            .map(|(weight, _)| {
                self.tensors
                    .get(&format!("{name}/{weight}"))
                    .map(Tensor::shallow_clone)
                    .ok_or_else(|| Error::NoTop {
                        path: self.path.clone(),
                        network: self.backbone.title(),
                        top: top_layers(self.backbone, self.flavor).join(", "),
                        file: self.backbone.weights_file(true),
                    })
            })
            .collect()
    }

    /// Writes the weights as safetensors (this crate's names and layout; the network, its
    /// flavor and the preprocessing in the metadata), atomically. [`Weights::load`]
    /// memory-maps it back.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let tensors: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .map(|(name, t)| (name.clone(), t.shallow_clone()))
            .collect();
        let text = |value: serde_json::Value| value.as_str().unwrap_or_default().to_string();
        let metadata = HashMap::from([
            (
                PREPROCESS_KEY.to_string(),
                text(serde_json::json!(self.preprocess)),
            ),
            (
                BACKBONE_KEY.to_string(),
                text(serde_json::json!(self.backbone)),
            ),
            (FLAVOR_KEY.to_string(), text(serde_json::json!(self.flavor))),
        ]);
        tensor_file::write(path.as_ref(), &tensors, metadata)
    }
}

/// A file's tensors by their own names.
fn named(tensors: HashMap<String, Tensor>, layout: Layout) -> Contents {
    let tensors = tensors
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
        .collect();
    Contents { tensors, layout }
}

/// The layers of `backbone`'s top that have weights: `fc1, fc2, predictions` for the VGGs.
fn top_layers(backbone: Backbone, flavor: Flavor) -> Vec<String> {
    let size = TOP_INPUT_SIZE;
    let base = backbone
        .layers(flavor, false, Pooling::None, size, size)
        .len();
    backbone
        .layers(flavor, true, Pooling::None, size, size)
        .into_iter()
        .skip(base)
        .filter(|spec| !spec.kind.weight_shapes().is_empty())
        .map(|spec| spec.name)
        .collect()
}

/// Checks every tensor of `backbone` (the top's only if the file has the top's first layer)
/// and converts it to this crate's layout.
fn import(
    mut file: Contents,
    backbone: Backbone,
    flavor: Flavor,
    path: &Path,
) -> Result<BTreeMap<String, Tensor>> {
    let layout = file.layout;
    // The name of a layer's `position`-th weight in the file, trying Keras's older names.
    let key = |file: &Contents, layer: &str, weight: &str, position: usize, index: usize| {
        if layout != Layout::Keras {
            return layout.name(backbone, layer, weight, index);
        }
        std::iter::once(layer)
            .chain(keras_aliases(backbone, layer).iter().copied())
            .map(|name| format!("{name}/{position}"))
            .find(|name| file.tensors.contains_key(name))
            .unwrap_or_else(|| format!("{layer}/{position}"))
    };
    // The top's first layer is the first of its sequence in torchvision's VGGs (index 0).
    let first_top = top_layers(backbone, flavor).remove(0);
    let has_top = file
        .tensors
        .contains_key(&key(&file, &first_top, "kernel", 0, 0));
    let size = TOP_INPUT_SIZE;
    let specs = backbone.layers(flavor, has_top, Pooling::None, size, size);
    let first_weighted = specs.iter().find(|s| !s.kind.weight_shapes().is_empty());
    let first_name = first_weighted.map(|s| s.name.clone()).unwrap_or_default();
    let mut shapes: HashMap<String, Vec<i64>> = HashMap::new();
    let mut previous = vec![3, size, size];
    let mut flatten_input = None;
    let mut tensors = BTreeMap::new();
    let mut vgg_index = VggIndex::default();
    for LayerSpec { name, kind, inputs } in specs {
        let index = vgg_index.next(&kind);
        let input = inputs
            .first()
            .and_then(|i| shapes.get(i))
            .unwrap_or(&previous)
            .clone();
        for (position, (weight, own_shape)) in kind.weight_shapes().iter().enumerate() {
            let name_in_file = key(&file, &name, weight, position, index);
            let file_shape = layout.shape(&kind, weight, own_shape);
            let found = file
                .tensors
                .remove(&name_in_file)
                .ok_or_else(|| Error::MissingLayer {
                    path: path.to_path_buf(),
                    network: backbone.title(),
                    layer: name.clone(),
                    expected: layout.describe(backbone, &name, &kind, index),
                    hint: if name == first_name {
                        format!("; is it {}'s weights?", backbone.title())
                    } else {
                        String::new()
                    },
                })?;
            if found.tensor.size() != file_shape {
                return Err(Error::Shape {
                    path: path.to_path_buf(),
                    network: backbone.title(),
                    layer: name,
                    weight,
                    name_in_file: found.name_in_file,
                    shapes: Box::new((file_shape, found.tensor.size())),
                });
            }
            let tensor = tensor_file::weight(Path::new(path), &found.name_in_file, found.tensor)?;
            let tensor = layout.to_own(tensor, &kind, weight, flatten_input.as_deref())?;
            tensors.insert(format!("{name}/{weight}"), tensor);
        }
        flatten_input = matches!(kind, LayerKind::Flatten(_)).then(|| input.clone());
        previous = kind
            .output_shape(&input)
            .expect("a network's table gives each layer an input it takes");
        shapes.insert(name, previous.clone());
    }
    Ok(tensors)
}

/// A network with pretrained weights: Keras's `ResNet50(weights='imagenet')` and the others,
/// here because the weights are this module's concern and the tables
/// [`crate::applications`]'s.
impl Application {
    /// The network with `weights` (`weights='imagenet'` once loaded), in the weights' flavor,
    /// preprocessing images as they were trained. Weights of another network are refused, and
    /// with the top the weights must have it too (the notop files do not).
    pub fn from_weights(self, weights: &Weights, device: Device) -> Result<Model> {
        weights.expect(self.backbone)?;
        let application = self.flavor(weights.flavor);
        let layers = application
            .layers()?
            .into_iter()
            .map(|spec| {
                let tensors = weights.layer(&spec.name, &spec.kind)?;
                let mut layer =
                    Layer::with_weights(spec.name, spec.kind, tensors)?.with_inputs(spec.inputs);
                layer.move_to(device);
                Ok(layer)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(application
            .assemble(layers)?
            .with_preprocess(weights.preprocess))
    }

    /// The network with the weights of a file in any format [`Weights::load`] reads; a file of
    /// another network is an error that says what it holds.
    pub fn load(self, path: impl AsRef<Path>, device: Device) -> Result<Model> {
        self.from_weights(&Weights::load(path)?, device)
    }
}
