//! Features kept: in one tensor on the training device, or in a memory-mapped feature file
//! (a [`crate::cache_file`]), and read back a batch at a time in any order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tch::{Device, Kind, Tensor};

use super::{run_prefix, Request};
use crate::cache_file::{CacheFile, CacheFileWriter};
use crate::error::Result;
use crate::tensor_file;

pub(super) const MAGIC: &[u8; 8] = b"CDFEAT02";
/// Changes whenever the same key could give other numbers.
pub(super) const FORMAT: &str = "catsdogs features v2, little-endian, NCHW rows in file order";

/// Where a set of features lives.
#[derive(Debug)]
pub(super) enum Storage {
    /// One tensor on the training device.
    Memory(Tensor),
    /// A memory-mapped feature file: the rows are its payload.
    Disk(Arc<CacheFile>),
}

/// The outputs of the layers before a model's cut, for every image of a flow, in file order.
/// Clones share the data.
#[derive(Debug)]
pub struct Features {
    pub(super) meta: Meta,
    pub(super) storage: Storage,
    /// The file that holds them, also while a copy is in memory.
    pub(super) file: Option<PathBuf>,
}

impl Clone for Features {
    fn clone(&self) -> Self {
        let storage = match &self.storage {
            Storage::Memory(tensor) => Storage::Memory(tensor.shallow_clone()),
            Storage::Disk(file) => Storage::Disk(Arc::clone(file)),
        };
        Features {
            meta: self.meta.clone(),
            storage,
            file: self.file.clone(),
        }
    }
}

/// What a set of features is; with [`FORMAT`], the header of a feature file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Meta {
    pub(super) key: String,
    pub(super) layer: String,
    pub(super) start: usize,
    pub(super) count: usize,
    pub(super) sample_shape: Vec<i64>,
    /// The kind the features are kept in: the kind the layers computed them in.
    pub(super) dtype: Dtype,
}

/// The element types of features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Dtype {
    Float32,
    Bfloat16,
    Float16,
}

impl Dtype {
    pub(super) fn of(kind: Kind) -> Dtype {
        match kind {
            Kind::BFloat16 => Dtype::Bfloat16,
            Kind::Half => Dtype::Float16,
            _ => Dtype::Float32,
        }
    }

    pub(super) fn kind(self) -> Kind {
        match self {
            Dtype::Float32 => Kind::Float,
            Dtype::Bfloat16 => Kind::BFloat16,
            Dtype::Float16 => Kind::Half,
        }
    }

    pub(super) fn size(self) -> u64 {
        match self {
            Dtype::Float32 => 4,
            Dtype::Bfloat16 | Dtype::Float16 => 2,
        }
    }
}

impl Meta {
    /// Bytes of one image's features.
    pub(super) fn sample_bytes(&self) -> u64 {
        self.sample_shape.iter().product::<i64>() as u64 * self.dtype.size()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Header {
    pub(super) format: String,
    #[serde(flatten)]
    pub(super) meta: Meta,
}

impl Features {
    /// The index of the first layer to run on these features (the cut).
    pub fn start(&self) -> usize {
        self.meta.start
    }

    /// The name of the last cached layer, e.g. `block5_pool`.
    pub fn layer(&self) -> &str {
        &self.meta.layer
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.meta.count
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.meta.count == 0
    }

    /// The cache key (see the module's notes).
    pub fn key(&self) -> &str {
        &self.meta.key
    }

    /// Bytes taken.
    pub fn bytes(&self) -> u64 {
        self.meta.count as u64 * self.meta.sample_bytes()
    }

    /// Where they are: `CPU memory`, `GPU memory` or the file's path.
    pub fn location(&self) -> String {
        match &self.storage {
            Storage::Memory(t) if t.device().is_cuda() => "GPU memory".into(),
            Storage::Memory(_) => "CPU memory".into(),
            Storage::Disk(file) => file.path().display().to_string(),
        }
    }

    /// The file on disk that holds them (whether they are read from it or from a copy in
    /// memory); `None` when they are in memory alone.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Whether they are in a memory-mapped file rather than in device memory.
    pub fn on_disk(&self) -> bool {
        matches!(self.storage, Storage::Disk(_))
    }

    /// The features of the images at `indices`, as one batch on `device`.
    pub fn batch(&self, indices: &[usize], device: Device) -> Result<Tensor> {
        let meta = &self.meta;
        if let Some(&bad) = indices.iter().find(|&&i| i >= meta.count) {
            return Err(crate::error::Error::Index {
                index: bad,
                samples: meta.count,
            });
        }
        let mut shape = vec![indices.len() as i64];
        shape.extend(&meta.sample_shape);
        match &self.storage {
            Storage::Memory(all) => {
                let rows: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
                let rows = Tensor::f_from_slice(&rows)?.f_to_device(all.device())?;
                Ok(all.f_index_select(0, &rows)?.f_to_device(device)?)
            }
            Storage::Disk(file) => {
                let row = meta.sample_bytes() as usize;
                let mut bytes = Vec::with_capacity(indices.len() * row);
                for &i in indices {
                    bytes.extend_from_slice(&file.payload()[i * row..][..row]);
                }
                let kind = meta.dtype.kind();
                Ok(Tensor::f_from_data_size(&bytes, &shape, kind)?.f_to_device(device)?)
            }
        }
    }
}

/// Computes the features of `meta` and writes them to `path` as a [`crate::cache_file`], the
/// rows in file order, handing each batch with its first row's index to `also` as well.
pub(super) fn write_file(
    request: &Request,
    path: &Path,
    meta: &Meta,
    mut also: impl FnMut(usize, &Tensor) -> Result<()>,
) -> Result<()> {
    let header = Header {
        format: FORMAT.into(),
        meta: meta.clone(),
    };
    let mut file = CacheFileWriter::create(path, MAGIC, &header)?;
    run_prefix(request, meta.start, |start, batch| {
        file.write_payload(&tensor_file::bytes(batch, meta.dtype.kind())?)?;
        also(start, batch)
    })?;
    file.commit()
}

/// Opens a feature file with the given key; `None` if there is none, or it is stale or broken
/// (then it is recomputed and replaced).
pub(super) fn open_file(path: &Path, key: &str) -> Result<Option<Features>> {
    let Some(file) = CacheFile::open(path, MAGIC) else {
        return Ok(None);
    };
    let header = file.header::<Header>().filter(|header| {
        let meta = &header.meta;
        header.format == FORMAT
            && meta.key == key
            && file.payload().len() as u64 == meta.count as u64 * meta.sample_bytes()
    });
    let Some(header) = header else {
        crate::say!(
            "Ignoring {}: it is not a complete feature file for this key.",
            path.display()
        );
        return Ok(None);
    };
    Ok(Some(Features {
        meta: header.meta,
        storage: Storage::Disk(Arc::new(file)),
        file: Some(path.to_path_buf()),
    }))
}
