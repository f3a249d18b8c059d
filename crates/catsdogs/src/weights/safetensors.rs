//! safetensors files, read memory-mapped and written atomically: the format of converted weights
//! ([`super::Weights::save`]) and of saved models ([`crate::model::Sequential::save`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ::safetensors::tensor::{Dtype, SafeTensors, View};
use tch::{Kind, Tensor};

use super::WeightsError;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// Whether a file starting with `head` looks like safetensors: an 8-byte header length, then a
/// JSON object.
pub(crate) fn is_safetensors(head: &[u8]) -> bool {
    head.len() > 8 && head[8] == b'{'
}

fn unreadable(path: &Path, why: String) -> Error {
    WeightsError::Unreadable {
        path: path.display().to_string(),
        format: "safetensors",
        why,
    }
    .into()
}

/// All tensors of a safetensors file (floats as float32), and its metadata.
pub(crate) fn read(path: &Path) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    // SAFETY: the map is only read, and dropped before this function returns; the tensors
    // are copies. A file truncated by another process meanwhile is the caller's risk, as with
    // any memory-mapped read.
    let mmap =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("cannot map", path, e))?;
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

/// Writes `tensors` (as float32) and `metadata` to `path` atomically.
pub(crate) fn write(
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
            .map_err(|e| Error::Invalid {
                path: path.display().to_string(),
                why: format!("cannot write safetensors: {e}"),
            })?;
    write_atomic(path, &bytes)
}
