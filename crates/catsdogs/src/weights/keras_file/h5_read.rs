//! Reading the HDF5 of Keras's files with `hdf5-reader` (pure Rust, memory-mapped, no system
//! libhdf5): a file, or a `.keras` member's bytes, opened with its length checked against what
//! its superblock says; groups found by path; string attributes, fixed-length or
//! variable-length, and Keras's lists of names, which it splits over `name0`, `name1`, ... when
//! long; and datasets read as [`Values`] once their declared size is within
//! [`MAX_TENSOR_ELEMENTS`](crate::tensor_file::MAX_TENSOR_ELEMENTS). Every failure names the
//! file and the path inside it.

use std::path::{Path, PathBuf};

use hdf5_reader::error::Error as H5Error;
use hdf5_reader::group::Group;
use hdf5_reader::{ByteOrder, Datatype, Hdf5File};
use tch::{Kind, Tensor};

use super::Values;
use crate::error::{fmt_shape, Error, Result};
use crate::tensor_file::checked_elements;

/// The HDF5 format signature, at the start of the file.
pub(crate) const SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

/// An open HDF5 file of Keras's, with what messages call it.
pub(crate) struct H5 {
    file: Hdf5File,
    /// The file on disk.
    path: PathBuf,
    /// The member of a `.keras` zip that holds the HDF5 bytes (`model.weights.h5`).
    member: Option<&'static str>,
    /// What the file should be, with its article: "a Keras 2 .h5 model".
    format: &'static str,
}

impl H5 {
    /// Opens (maps) the file at `path`, which should be `format`.
    pub(crate) fn open(path: &Path, format: &'static str) -> Result<Self> {
        let file = Hdf5File::open(path).map_err(|e| unreadable(path, format, &e))?;
        Self::checked(file, path, None, format)
    }

    /// Opens HDF5 bytes, the member `member` of the file at `path`.
    pub(crate) fn from_bytes(
        path: &Path,
        member: &'static str,
        bytes: Vec<u8>,
        format: &'static str,
    ) -> Result<Self> {
        let file = Hdf5File::from_vec(bytes).map_err(|e| unreadable(path, format, &e))?;
        Self::checked(file, path, Some(member), format)
    }

    /// Refuses a file shorter than its superblock's end-of-file address, as libhdf5 does.
    fn checked(
        file: Hdf5File,
        path: &Path,
        member: Option<&'static str>,
        format: &'static str,
    ) -> Result<Self> {
        let expected = file.superblock().eof_address;
        let found = file.storage().len();
        if found < expected {
            return Err(Error::FileTruncated {
                path: match member {
                    Some(member) => format!("{} (its member {member})", path.display()).into(),
                    None => path.to_path_buf(),
                },
                format: "HDF5",
                expected,
                found,
            });
        }
        Ok(H5 {
            file,
            path: path.to_path_buf(),
            member,
            format,
        })
    }

    /// `what at` as messages name a part: `group model_weights/dense`, or in a `.keras`,
    /// `group layers/dense of model.weights.h5`.
    pub(crate) fn part(&self, what: &str, at: &str) -> String {
        let at = if at.is_empty() { "/" } else { at };
        match self.member {
            Some(member) => format!("{what} {at} of {member}"),
            None => format!("{what} {at}"),
        }
    }

    /// An error for the part `what at`, which the reader refused with `why`.
    pub(crate) fn invalid(&self, what: &str, at: &str, why: impl Into<String>) -> Error {
        Error::KerasInvalid {
            path: self.path.clone(),
            part: self.part(what, at),
            why: why.into(),
        }
    }

    /// An error for the missing part `what at`.
    pub(crate) fn missing(&self, what: &str, at: &str) -> Error {
        Error::KerasMissing {
            path: self.path.clone(),
            part: self.part(what, at),
            format: self.format,
        }
    }

    fn unreadable(&self, error: &H5Error) -> Error {
        unreadable(&self.path, self.format, error)
    }

    /// The group at `at` (`""` for the root, `model_weights/dense`), if there is one.
    pub(crate) fn group(&self, at: &str) -> Result<Option<Group>> {
        let mut group = self.file.root_group().map_err(|e| self.unreadable(&e))?;
        for name in at.split('/').filter(|n| !n.is_empty()) {
            group = match group.group(name) {
                Ok(child) => child,
                Err(H5Error::GroupNotFound(_)) => return Ok(None),
                Err(e) => return Err(self.unreadable(&e)),
            };
        }
        Ok(Some(group))
    }

    /// The group at `at`; an error that names it when there is none.
    pub(crate) fn required_group(&self, at: &str) -> Result<Group> {
        self.group(at)?.ok_or_else(|| self.missing("group", at))
    }

    /// The string attribute `name` of the group at `at`, if it has one.
    pub(crate) fn string(&self, group: &Group, at: &str, name: &str) -> Result<Option<String>> {
        let Ok(attribute) = group.attribute(name) else {
            return Ok(None);
        };
        attribute.read_string().map(Some).map_err(|e| {
            self.invalid(
                "attribute",
                &join(at, name),
                format!("is not a string ({e}): the file is damaged or was not written by Keras"),
            )
        })
    }

    /// The list of names `name` of the group at `at`, if it has one, joined from Keras's
    /// chunks `name0`, `name1`, ... when it split the list; an empty float array, which Keras
    /// writes for an empty list, is an empty list.
    pub(crate) fn strings(
        &self,
        group: &Group,
        at: &str,
        name: &str,
    ) -> Result<Option<Vec<String>>> {
        let read = |name: &str| -> Result<Option<Vec<String>>> {
            let Ok(attribute) = group.attribute(name) else {
                return Ok(None);
            };
            let not_names = |e: H5Error| {
                self.invalid(
                    "attribute",
                    &join(at, name),
                    format!("is not a list of names ({e}): the file is damaged or was not written by Keras"),
                )
            };
            if attribute.num_elements().map_err(not_names)? == 0 {
                return Ok(Some(Vec::new()));
            }
            attribute.read_strings().map(Some).map_err(not_names)
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

    /// The names of the datasets in `group`.
    pub(crate) fn dataset_names(&self, group: &Group) -> Result<Vec<String>> {
        let (_, datasets) = group.member_names().map_err(|e| self.unreadable(&e))?;
        Ok(datasets)
    }

    /// The dataset `name` of the group at `at` (a path that may go through subgroups, as in
    /// `dense/kernel:0`): its shape and values, float32 (float64 converted) or int64.
    pub(crate) fn values(
        &self,
        group: &Group,
        at: &str,
        name: &str,
    ) -> Result<(Vec<usize>, Values)> {
        let full = join(at, name);
        let mut parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        let last = parts.pop().unwrap_or_default();
        let mut parent = group.clone();
        for part in parts {
            parent = parent
                .group(part)
                .map_err(|_| self.missing("dataset", &full))?;
        }
        let dataset = match parent.dataset(last) {
            Ok(dataset) => dataset,
            Err(H5Error::DatasetNotFound(_)) => return Err(self.missing("dataset", &full)),
            Err(e) => return Err(self.unreadable(&e)),
        };
        let dims: Vec<i64> = dataset
            .shape()
            .iter()
            .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
            .collect();
        let count = checked_elements(&dims).map_err(|why| {
            self.invalid(
                "dataset",
                &full,
                format!(
                    "declares shape {}: {why}; the file is damaged or was not written by Keras",
                    fmt_shape(&dims)
                ),
            )
        })? as usize;
        let damaged = |e: H5Error| {
            self.invalid(
                "dataset",
                &full,
                format!(
                    "of shape {} cannot be read ({e}): the file is damaged",
                    fmt_shape(&dims)
                ),
            )
        };
        let values = match dataset.dtype() {
            Datatype::FloatingPoint { size: 4, .. } => {
                let mut values = vec![0f32; count];
                dataset.read_into(&mut values).map_err(damaged)?;
                Values::F32(values)
            }
            Datatype::FloatingPoint { size: 8, .. } => {
                let mut values = vec![0f64; count];
                dataset.read_into(&mut values).map_err(damaged)?;
                Values::F32(values.into_iter().map(|v| v as f32).collect())
            }
            // Keras loads half-precision weights too, converting them to the layer's float32.
            Datatype::FloatingPoint {
                size: 2,
                byte_order,
            } => {
                let mut bytes = vec![0u8; count * 2];
                dataset.read_raw_bytes_into(&mut bytes).map_err(damaged)?;
                if *byte_order == ByteOrder::BigEndian {
                    bytes.chunks_exact_mut(2).for_each(<[u8]>::reverse);
                }
                let half = Tensor::f_from_data_size(&bytes, &[count as i64], Kind::Half)?;
                Values::F32(Vec::<f32>::try_from(half.f_to_kind(Kind::Float)?)?)
            }
            Datatype::FixedPoint {
                size: 8,
                signed: true,
                ..
            } => {
                let mut values = vec![0i64; count];
                dataset.read_into(&mut values).map_err(damaged)?;
                Values::I64(values)
            }
            Datatype::FixedPoint { size, signed, .. } => {
                let sign = if *signed { "int" } else { "uint" };
                return Err(Error::WeightType {
                    path: self.path.clone(),
                    tensor: full,
                    found: format!("{sign}{}", u32::from(*size) * 8),
                });
            }
            other => {
                return Err(self.invalid(
                    "dataset",
                    &full,
                    format!("holds {other:?} values, where catsdogs reads float16, float32, float64 and int64 ones: convert the model's weights to float32 in Keras and save it again"),
                ))
            }
        };
        let shape = dims.iter().map(|&d| d as usize).collect();
        Ok((shape, values))
    }
}

/// `at/name`, or `name` at the root.
pub(crate) fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}/{name}")
    }
}

fn unreadable(path: &Path, format: &'static str, error: &H5Error) -> Error {
    Error::Unreadable {
        path: path.to_path_buf(),
        format,
        why: error.to_string(),
    }
}
