//! NumPy's `.npy` format, version 1.0, for `f32` arrays: what `catsdogs load-img --npy` and
//! `catsdogs features --npy` write, so that outside tools can compare our numbers with Keras's
//! by `numpy.load`. Files are written atomically.

use std::path::Path;

use crate::error::Result;
use crate::fsutil::write_atomic;

/// The bytes of a little-endian `float32` C-order `.npy` file of `shape` holding `values`.
///
/// ```
/// let bytes = catsdogs::data::npy_bytes(&[2, 3, 3], &[0.0; 18]);
/// assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
/// assert_eq!(bytes.len(), 128 + 2 * 3 * 3 * 4);
/// let flat = catsdogs::data::npy_bytes(&[2], &[1.0, 2.0]);
/// assert!(String::from_utf8_lossy(&flat).contains("'shape': (2,)"));
/// ```
pub fn npy_bytes(shape: &[usize], values: &[f32]) -> Vec<u8> {
    debug_assert_eq!(shape.iter().product::<usize>(), values.len());
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + header length (2) + header, padded with spaces and ended by a
    // newline to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// Writes `values` of `shape` to `path` as a `.npy` file, atomically.
pub fn write_npy(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    write_atomic(path, &npy_bytes(shape, values))
}
