//! NumPy's `.npy` format, version 1.0, for `f32` arrays: what `catsdogs load-img --npy` and
//! `catsdogs features --npy` write, so that outside tools can compare our numbers with Keras's
//! by `numpy.load`, and what `catsdogs predict --npy` reads (`numpy.save` of a float32 array,
//! any version). Files are written atomically; a file read is checked against its header
//! before its values are read.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::tensor_file::checked_elements;

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

/// The longest header a `.npy` file read here may have (NumPy writes 128 bytes or so).
const MAX_HEADER: usize = 1 << 16;

/// Reads a little-endian float32 C-order `.npy` file (of any version), as `numpy.save` writes
/// one: its shape and values. The header is checked first (its type, order and shape, the
/// shape within [`crate::tensor_file::MAX_TENSOR_ELEMENTS`] values and exactly what the file
/// holds), so a damaged or hostile file is one sentence and nothing more is read.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.npy");
/// catsdogs::data::write_npy(&path, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
/// assert_eq!(catsdogs::data::read_npy(&path)?, (vec![2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
/// std::fs::write(&path, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'}").unwrap();
/// assert!(catsdogs::data::read_npy(&path).unwrap_err().to_string().contains("'<f8'"));
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let unreadable = |why: String| Error::Unreadable {
        path: path.to_path_buf(),
        format: "a float32 .npy array",
        why,
    };
    let mut file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let length = file.metadata().map_err(|e| Error::read(path, e))?.len();
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic)
        .map_err(|_| unreadable("it is shorter than NumPy's header".into()))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(unreadable(
            "it does not start as NumPy's .npy files do: save the array with numpy.save".into(),
        ));
    }
    let header_length = match magic[6] {
        1 => {
            let mut bytes = [0u8; 2];
            file.read_exact(&mut bytes)
                .map_err(|e| Error::read(path, e))?;
            usize::from(u16::from_le_bytes(bytes))
        }
        _ => {
            let mut bytes = [0u8; 4];
            file.read_exact(&mut bytes)
                .map_err(|e| Error::read(path, e))?;
            u32::from_le_bytes(bytes) as usize
        }
    };
    if header_length > MAX_HEADER {
        return Err(unreadable(format!(
            "its header claims {header_length} bytes, more than any array's"
        )));
    }
    let mut header = vec![0u8; header_length];
    file.read_exact(&mut header)
        .map_err(|_| unreadable("it ends inside its header".into()))?;
    let header = String::from_utf8_lossy(&header);
    let field = |key: &str| -> Option<&str> {
        let start = header.find(&format!("'{key}':"))? + key.len() + 3;
        let rest = header[start..].trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')')? + 1
        } else {
            rest.find([',', '}'])?
        };
        Some(rest[..end].trim())
    };
    let descr = field("descr").unwrap_or("none");
    if descr != "'<f4'" {
        return Err(unreadable(format!("its values are of type {descr}, not float32 ('<f4'): save them with x.astype(numpy.float32)")));
    }
    if field("fortran_order") != Some("False") {
        return Err(unreadable(
            "its values are not in C order: save numpy.ascontiguousarray(x)".into(),
        ));
    }
    let shape: Option<Vec<usize>> = field("shape").and_then(|tuple| {
        let inside = tuple.strip_prefix('(')?.strip_suffix(')')?;
        inside
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().ok())
            .collect()
    });
    let shape = shape.ok_or_else(|| unreadable("its header has no shape NumPy writes".into()))?;
    let dims: Vec<i64> = shape
        .iter()
        .map(|&d| i64::try_from(d).unwrap_or(-1))
        .collect();
    let count = checked_elements(&dims).map_err(|why| unreadable(why.to_string()))?;
    let start = (if magic[6] == 1 { 10 } else { 12 } + header_length) as u64;
    if length.checked_sub(start) != count.checked_mul(4) {
        return Err(unreadable(format!(
            "its header says {count} values of shape {shape:?} ({} bytes) but it holds {} bytes of values: save it again",
            count * 4,
            length.saturating_sub(start)
        )));
    }
    let mut bytes = Vec::with_capacity((count * 4) as usize);
    file.take(count * 4)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::read(path, e))?;
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((shape, values))
}
