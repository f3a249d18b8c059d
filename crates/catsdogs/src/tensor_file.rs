//! Tensor files: safetensors, read memory-mapped and written atomically, the format of converted
//! weights ([`crate::weights::Weights::save`]), saved models ([`crate::model::Sequential::save`])
//! and checkpoints; the bound on the size of any tensor read from a file; and the check that
//! every reader of weights makes of each weight it hands to a layer ([`weight`]): floating-point
//! numbers, all finite.
//!
//! ```
//! use std::collections::HashMap;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("t.safetensors");
//! let t = tch::Tensor::from_slice(&[1.0f32, 2.0]);
//! catsdogs::tensor_file::write(&path, &[("t".to_string(), t)], HashMap::new()).unwrap();
//! let (tensors, _) = catsdogs::tensor_file::read(&path).unwrap();
//! assert_eq!(tensors["t"].size(), [2]);
//! assert!(catsdogs::tensor_file::checked_elements(&[1 << 20, 1 << 20]).is_err());
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ::safetensors::tensor::{Dtype, SafeTensors, View};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// The most values one tensor read from a file may hold: 2^28 (1 GiB as float32), far above
/// VGG16's largest weight (`fc1`, 102,760,448): a bound on what a file that lies about a shape
/// can make the readers allocate.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 28;

/// The number of values of a tensor of `shape`, if every axis is at least 0 and the total at
/// most [`MAX_TENSOR_ELEMENTS`]; else the shape, refused.
pub fn checked_elements(shape: &[i64]) -> Result<u64, TooManyElements> {
    shape
        .iter()
        .try_fold(1u64, |total, &axis| {
            u64::try_from(axis)
                .ok()
                .and_then(|axis| total.checked_mul(axis))
                .filter(|&n| n <= MAX_TENSOR_ELEMENTS)
        })
        .ok_or_else(|| TooManyElements(shape.to_vec()))
}

/// A tensor shape with a negative axis, or of more than [`MAX_TENSOR_ELEMENTS`] values.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("a tensor of shape {0:?} is negative or larger than the {MAX_TENSOR_ELEMENTS} values any weight has")]
pub struct TooManyElements(pub Vec<i64>);

/// The little-endian bytes of a tensor's values in `kind`, in row-major (NCHW) order, whatever
/// its device and memory layout: what the caches store and the content hashes read.
pub fn bytes(tensor: &Tensor, kind: Kind) -> Result<Vec<u8>> {
    let values = tensor
        .f_to_device(tch::Device::Cpu)?
        .f_to_kind(kind)?
        .f_contiguous()?;
    let mut bytes = vec![0u8; values.numel() * kind.elt_size_in_bytes()];
    values.f_copy_data_u8(&mut bytes, values.numel())?;
    Ok(bytes)
}

/// The first value of `tensor` that is not finite (NaN or an infinity), with its index in
/// row-major order; `None` when every value is finite.
///
/// ```
/// let t = tch::Tensor::from_slice(&[1.0f32, f32::NAN, f32::INFINITY]);
/// let (index, value) = catsdogs::tensor_file::first_non_finite(&t).unwrap().unwrap();
/// assert_eq!(index, 1);
/// assert!(value.is_nan());
/// ```
pub fn first_non_finite(tensor: &Tensor) -> Result<Option<(usize, f64)>> {
    if !tensor.is_floating_point() || tensor.f_isfinite()?.f_all()?.f_int64_value(&[])? == 1 {
        return Ok(None);
    }
    let flat = tensor.f_flatten(0, -1)?;
    let bad = flat.f_isfinite()?.f_logical_not()?.f_nonzero()?;
    let index = bad.f_int64_value(&[0, 0])?;
    Ok(Some((index as usize, flat.f_double_value(&[index])?)))
}

/// A weight read from the file `path`, where it is called `name`, as a layer takes it
/// (float32), after checking that it holds floating-point numbers ([`Error::WeightType`]
/// otherwise: an `int32` tensor would be taken for a kernel) that are all finite
/// ([`Error::NonFiniteWeight`]: one NaN makes every answer NaN).
///
/// ```
/// let path = std::path::Path::new("w.safetensors");
/// let kernel = tch::Tensor::from_slice(&[1i32, 2]);
/// let err = catsdogs::tensor_file::weight(path, "fc1/kernel", kernel).unwrap_err();
/// assert!(err.to_string().contains("fc1/kernel holds int32 values"), "{err}");
/// let bias = tch::Tensor::from_slice(&[0.5f32, f32::NAN]);
/// let err = catsdogs::tensor_file::weight(path, "fc1/bias", bias).unwrap_err();
/// assert!(err.to_string().contains("fc1/bias holds NaN"), "{err}");
/// ```
pub fn weight(path: &Path, name: &str, tensor: Tensor) -> Result<Tensor> {
    if !tensor.is_floating_point() {
        return Err(Error::WeightType {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            found: kind_name(tensor.kind()),
        });
    }
    if let Some((_, value)) = first_non_finite(&tensor)? {
        return Err(Error::NonFiniteWeight {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            value,
        });
    }
    Ok(tensor.f_to_kind(Kind::Float)?)
}

/// The NumPy name of a tensor kind: `int32`, `uint8`, `bool`...
fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::Uint8 => "uint8".into(),
        Kind::Int8 => "int8".into(),
        Kind::Int16 => "int16".into(),
        Kind::Int => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Bool => "bool".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Whether a file starting with `head` looks like safetensors: an 8-byte header length, then a
/// JSON object.
pub fn is_safetensors(head: &[u8]) -> bool {
    head.len() > 8 && head[8] == b'{'
}

fn unreadable(path: &Path, why: String) -> Error {
    Error::Unreadable {
        path: path.to_path_buf(),
        format: "safetensors",
        why,
    }
}

/// The file mapped into memory, for the readers below.
fn map(path: &Path) -> Result<memmap2::Mmap> {
    let file = crate::fsutil::open_file(path)?;
    // SAFETY: the map is only read, and dropped before the reader that asked for it returns;
    // the tensors are copies. A file truncated by another process meanwhile is the caller's
    // risk, as with any memory-mapped read.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("cannot map", path, e))
}

/// The metadata of a safetensors file, read without its tensors (only the header is touched;
/// the safetensors reader checks its length against the file's first).
pub fn metadata(path: &Path) -> Result<HashMap<String, String>> {
    let mmap = map(path)?;
    let (_, metadata) =
        SafeTensors::read_metadata(&mmap).map_err(|e| unreadable(path, e.to_string()))?;
    Ok(metadata.metadata().clone().unwrap_or_default())
}

/// All tensors of a safetensors file (floats as float32), and its metadata. The safetensors
/// reader checks every tensor's place against the file's size before anything is copied.
pub fn read(path: &Path) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let mmap = map(path)?;
    let (_, metadata) =
        SafeTensors::read_metadata(&mmap).map_err(|e| unreadable(path, e.to_string()))?;
    let tensors = SafeTensors::deserialize(&mmap).map_err(|e| unreadable(path, e.to_string()))?;
    let mut out = HashMap::new();
    for (name, view) in tensors.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::I64 => Kind::Int64,
            Dtype::I32 => Kind::Int,
            Dtype::U8 => Kind::Uint8,
            Dtype::BOOL => Kind::Bool,
            other => {
                return Err(unreadable(
                    path,
                    format!("tensor {name} has unsupported type {other:?}"),
                ))
            }
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let tensor = Tensor::f_from_data_size(view.data(), &shape, kind)?;
        let tensor = if tensor.is_floating_point() {
            tensor.f_to_kind(Kind::Float)?
        } else {
            tensor
        };
        out.insert(name, tensor);
    }
    Ok((out, metadata.metadata().clone().unwrap_or_default()))
}

/// A contiguous float32 tensor on the CPU, written straight from its memory.
struct F32View {
    tensor: Tensor,
    shape: Vec<usize>,
}

impl View for &F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let len = self.data_len();
        if len == 0 {
            return Cow::Borrowed(&[]);
        }
        // SAFETY: `write` made the tensor contiguous float32 on the CPU, so its memory holds
        // exactly `len` initialised bytes, and the tensor outlives the borrow.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(self.tensor.data_ptr() as *const u8, len)
        })
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * 4
    }
}

/// Writes `tensors` (as float32) and `metadata` to `path` atomically (see [`crate::fsutil`]).
pub fn write(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let views = tensors
        .iter()
        .map(|(name, t)| {
            let tensor = t
                .f_to_device(tch::Device::Cpu)?
                .f_to_kind(Kind::Float)?
                .f_contiguous()?;
            let shape = tensor.size().iter().map(|&d| d as usize).collect();
            Ok((name.clone(), F32View { tensor, shape }))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes =
        ::safetensors::serialize(views.iter().map(|(n, v)| (n.as_str(), v)), Some(metadata))
            .map_err(|e| unreadable(path, format!("cannot be written as safetensors: {e}")))?;
    write_atomic(path, &bytes)
}
