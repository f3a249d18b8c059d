//! Keras's legacy HDF5 weights layout (`model.save_weights`, and the official VGG16 files):
//! the root attribute `layer_names` lists every layer; each layer is a group whose attribute
//! `weight_names` lists its datasets in Keras's order (kernel, then bias), e.g.
//! `block1_conv1/block1_conv1_W_1:0`. Layers without weights are empty groups. A full-model
//! file (`model.save`) keeps the same layout under `model_weights`.
//!
//! Read with `hdf5-reader`, a pure-Rust, memory-mapped HDF5 reader: no system libhdf5.

use std::path::Path;

use hdf5_reader::error::{Error as H5Error, Result as H5Result};
use hdf5_reader::group::Group;
use hdf5_reader::{ByteOrder, Datatype, Hdf5File};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The HDF5 format signature, at the start of the file.
pub(super) const SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

/// A layer's weights in Keras's order: (dataset name, tensor).
pub(super) type LayerWeights = Vec<(String, Tensor)>;

/// Every layer of the file in order, with its weights.
pub(super) fn read_keras(path: &Path) -> Result<Vec<(String, LayerWeights)>> {
    let unreadable = |why: String| Error::Unreadable {
        path: path.display().to_string(),
        format: "Keras HDF5 weights",
        why,
    };
    let h5 = |e: H5Error| unreadable(innermost(e).to_string());
    let file = Hdf5File::open(path).map_err(h5)?;
    let mut root = file.root_group().map_err(h5)?;
    if root.attribute("layer_names").is_err() {
        if let Ok(weights) = root.group("model_weights") {
            root = weights;
        }
    }
    let layer_names = strings_attribute(&root, "layer_names")
        .map_err(h5)?
        .ok_or_else(|| {
            unreadable("it has no attribute 'layer_names', so it was not written by Keras".into())
        })?;
    let mut layers = Vec::with_capacity(layer_names.len());
    for layer in layer_names {
        let group = root.group(&layer).map_err(h5)?;
        let weight_names = strings_attribute(&group, "weight_names")
            .map_err(h5)?
            .unwrap_or_default();
        let mut weights = Vec::with_capacity(weight_names.len());
        for weight in weight_names {
            let tensor = read_dataset(&group, &weight).map_err(|e| match e {
                Read::Type(found) => Error::WeightType {
                    path: path.display().to_string(),
                    tensor: format!("{layer}/{weight}"),
                    found,
                },
                Read::H5(e) => {
                    unreadable(format!("layer {layer}, dataset {weight}: {}", innermost(e)))
                }
            })?;
            weights.push((weight, tensor));
        }
        layers.push((layer, weights));
    }
    Ok(layers)
}

/// The reader's own error without the names it wraps around it at each level (which would
/// repeat the dataset's name: `kernel:0: kernel:0: ...`).
fn innermost(error: H5Error) -> H5Error {
    match error {
        H5Error::Context { source, .. } => innermost(*source),
        other => other,
    }
}

/// Why a dataset could not be read: not floating point (the type found), or the reader's
/// error.
enum Read {
    Type(String),
    H5(H5Error),
}

impl From<H5Error> for Read {
    fn from(error: H5Error) -> Self {
        Read::H5(error)
    }
}

/// A list-of-strings attribute, `None` if absent. Keras splits long lists over `name0`,
/// `name1`, ...; an empty list may be stored as an empty float array.
fn strings_attribute(group: &Group, name: &str) -> H5Result<Option<Vec<String>>> {
    let read = |name: &str| -> H5Result<Option<Vec<String>>> {
        let Ok(attribute) = group.attribute(name) else {
            return Ok(None);
        };
        if attribute.num_elements()? == 0 {
            return Ok(Some(Vec::new()));
        }
        attribute.read_strings().map(Some)
    };
    if let Some(strings) = read(name)? {
        return Ok(Some(strings));
    }
    let mut chunks = Vec::new();
    while let Some(chunk) = read(&format!("{name}{}", chunks.len()))? {
        chunks.push(chunk);
    }
    Ok((!chunks.is_empty()).then(|| chunks.concat()))
}

/// A float dataset at `path` (which may go through subgroups, as in `fc1/kernel:0`), in its own
/// precision: Keras loads half, single and double precision alike, converting to the layer's.
/// Anything but floating-point numbers is refused with the type it holds.
fn read_dataset(group: &Group, path: &str) -> Result<Tensor, Read> {
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts.pop().unwrap_or_default();
    let mut group = group.clone();
    for part in parts {
        group = group.group(part)?;
    }
    let dataset = group.dataset(name)?;
    let (kind, order) = match dataset.dtype() {
        Datatype::FloatingPoint {
            size: 2,
            byte_order,
        } => (Kind::Half, byte_order),
        Datatype::FloatingPoint {
            size: 4,
            byte_order,
        } => (Kind::Float, byte_order),
        Datatype::FloatingPoint {
            size: 8,
            byte_order,
        } => (Kind::Double, byte_order),
        Datatype::FixedPoint { size, signed, .. } => {
            let sign = if *signed { "int" } else { "uint" };
            return Err(Read::Type(format!("{sign}{}", u32::from(*size) * 8)));
        }
        other => return Err(Read::Type(format!("{other:?}"))),
    };
    let shape: Vec<i64> = dataset
        .shape()
        .iter()
        .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
        .collect();
    let count = crate::tensor_file::checked_elements(&shape).map_err(H5Error::Other)?;
    let size = kind.elt_size_in_bytes();
    let mut bytes = vec![0u8; count as usize * size];
    dataset.read_raw_bytes_into(&mut bytes)?;
    if *order == ByteOrder::BigEndian {
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
    Tensor::f_from_data_size(&bytes, &shape, kind)
        .map_err(|e| Read::H5(H5Error::Other(e.to_string())))
}
