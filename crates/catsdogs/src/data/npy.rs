//! NumPy's `.npy` format, version 1.0, for `f32` arrays: what `catsdogs load-img --npy` writes,
//! so that outside tools can compare our pixels with Keras's by `numpy.load`.

use std::path::Path;

use ndarray::Array3;

use super::error::DataError;
use crate::fsutil::write_atomic;

/// The bytes of `array` as a little-endian `float32` C-order `.npy` file.
///
/// ```
/// let x = ndarray::Array3::<f32>::zeros((2, 3, 3));
/// let bytes = catsdogs::data::npy_bytes(&x);
/// assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
/// assert_eq!(bytes.len(), 128 + 2 * 3 * 3 * 4);
/// ```
pub fn npy_bytes(array: &Array3<f32>) -> Vec<u8> {
    let shape = array.shape();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        shape[0], shape[1], shape[2]
    );
    // Magic (6) + version (2) + header length (2) + header, padded with spaces and ended by a
    // newline to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + array.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in array.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// Writes `array` to `path` as a `.npy` file, atomically.
pub fn write_npy(path: &Path, array: &Array3<f32>) -> Result<(), DataError> {
    Ok(write_atomic(path, &npy_bytes(array))?)
}
