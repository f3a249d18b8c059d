//! Keras's whole-model files as plain data, read and written: Keras 2's HDF5 `.h5` (what
//! tf_keras's `model.save("x.h5")` writes, see [`keras2`]) and Keras 3's `.keras` zip (what
//! Keras 3's `model.save("x.keras")` writes, see [`keras3`]). A [`KerasFile`] holds what the
//! file holds and no more: the model's config and training config as the JSON stored, Keras's
//! version, and each layer's weights and the optimizer's variables as stored, in Keras's own
//! layout (HWIO convolution kernels, (inputs, units) dense kernels, row-major). What the
//! configs mean, and how the weights become a model's, is the model's concern, not this
//! module's.
//!
//! Reading tells the format by the file's first bytes (HDF5's signature or a zip's), checks
//! every size read from the file before it allocates (each dataset's shape within
//! [`MAX_TENSOR_ELEMENTS`](crate::tensor_file::MAX_TENSOR_ELEMENTS), each zip member's
//! declared size against what the archive holds, the file's length against its HDF5
//! superblock) and answers a damaged or foreign file with one sentence that names the file and
//! the part (`group model_weights/dense`, `member config.json`). Writing goes through
//! `hdf5-pure` and the zip crate in memory, then [`crate::fsutil`]'s atomic write; what it
//! writes, h5py, Keras and tf_keras read as they read their own (`tests/keras_file.rs`), and
//! this module reads back equal.
//!
//! ```
//! use catsdogs::weights::keras_file::{KerasFile, KerasFormat, LayerWeights, Values, Weight};
//! let dense = |name: &str, shape: Vec<usize>, values: Vec<f32>| Weight {
//!     name: name.into(),
//!     shape,
//!     values: Values::F32(values),
//! };
//! let config = serde_json::json!({"class_name": "Sequential", "config": {"name": "sequential",
//!     "layers": [{"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}});
//! let mut file = KerasFile {
//!     format: KerasFormat::Keras2H5,
//!     keras_version: Some("2.21.0".into()),
//!     backend: Some("tensorflow".into()),
//!     model_config: config,
//!     training_config: None,
//!     metadata: None,
//!     layers: vec![LayerWeights {
//!         path: vec!["dense".into()],
//!         weights: vec![
//!             dense("dense/kernel:0", vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
//!             dense("dense/bias:0", vec![2], vec![0.5, -0.5]),
//!         ],
//!     }],
//!     optimizer: vec![],
//! };
//! let dir = tempfile::tempdir().unwrap();
//! file.write(&dir.path().join("model.h5"))?;
//! assert_eq!(KerasFile::read(&dir.path().join("model.h5"))?, file);
//!
//! file.format = KerasFormat::Keras3Zip; // Keras 3 numbers a layer's weights
//! file.backend = None;
//! file.keras_version = Some("3.15.1".into());
//! file.metadata = Some(serde_json::json!({"keras_version": "3.15.1"}));
//! for (i, weight) in file.layers[0].weights.iter_mut().enumerate() {
//!     weight.name = i.to_string();
//! }
//! file.write(&dir.path().join("model.keras"))?;
//! assert_eq!(KerasFile::read(&dir.path().join("model.keras"))?, file);
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod archive;
pub(super) mod config;
pub(crate) mod h5_read;
mod h5_write;
pub(crate) mod keras2;
mod keras3;

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The two whole-model formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KerasFormat {
    /// Keras 2's HDF5 file (`.h5`), as tf_keras writes it.
    Keras2H5,
    /// Keras 3's zip (`.keras`).
    Keras3Zip,
}

/// The values of a weight, row-major: float32 (weights, an optimizer's slots; float64 ones are
/// read as float32), or int64 (an optimizer's iteration count).
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// float32 values.
    F32(Vec<f32>),
    /// int64 values.
    I64(Vec<i64>),
}

impl Values {
    /// How many values there are.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(values) => values.len(),
            Values::I64(values) => values.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One weight (variable) as the file stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// Its name in the file: in Keras 2 the name its list of names gives, which is the path of
    /// its dataset below its layer's group (`dense/kernel:0`, in a nested model
    /// `block1_conv1/kernel:0`) or below `optimizer_weights`
    /// (`RMSprop/velocity/dense/kernel:0`); in Keras 3 its index (`0`, `1`, ...).
    pub name: String,
    /// Its shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Its values, row-major in Keras's layout.
    pub values: Values,
}

/// The weights of one layer, in the order Keras saves them (a kernel before its bias).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerWeights {
    /// The layer's name, after the names of the models it is nested in: `["dense"]`,
    /// `["vgg16", "block1_conv1"]`.
    pub path: Vec<String>,
    /// Its weights.
    pub weights: Vec<Weight>,
}

/// A Keras whole-model file, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasFile {
    /// Which format.
    pub format: KerasFormat,
    /// The Keras that wrote it (`2.21.0`; Keras 3's from `metadata.json`).
    pub keras_version: Option<String>,
    /// Keras 2's backend (`tensorflow`); Keras 3 does not say.
    pub backend: Option<String>,
    /// The model's config, as stored (Keras 3's holds `compile_config` and `build_config`).
    pub model_config: Value,
    /// Keras 2's training config (the compiled optimizer, loss and metrics), as stored.
    pub training_config: Option<Value>,
    /// Keras 3's `metadata.json`.
    pub metadata: Option<Value>,
    /// The weights of the layers that have weights, in the file's order: Keras 2's
    /// `layer_names` order (a nested model's layers as its group lists them, trainable ones
    /// first), Keras 3's model order (depth first).
    pub layers: Vec<LayerWeights>,
    /// The optimizer's variables, in order; empty when the file has none.
    pub optimizer: Vec<Weight>,
}

/// A zip file's first bytes.
const ZIP_SIGNATURE: &[u8] = b"PK\x03\x04";

impl KerasFile {
    /// Reads a Keras 2 `.h5` or Keras 3 `.keras` model file, told apart by its content.
    pub fn read(path: &Path) -> Result<Self> {
        let head = super::head(path)?;
        if head.starts_with(h5_read::SIGNATURE) {
            keras2::read(path)
        } else if head.starts_with(ZIP_SIGNATURE) {
            keras3::read(path)
        } else {
            Err(Error::KerasInvalid {
                path: path.to_path_buf(),
                part: "its content".into(),
                why: "is neither HDF5 (a Keras 2 .h5 model) nor a zip (a Keras 3 .keras model): give a file that Keras's model.save wrote".into(),
            })
        }
    }

    /// Writes the file at `path` in its format, atomically; Keras reads it back as it reads
    /// its own. The saved layers' names and groups come from the model's config, so each
    /// layer's weights must belong to a layer that the config saves.
    pub fn write(&self, path: &Path) -> Result<()> {
        match self.format {
            KerasFormat::Keras2H5 => keras2::write(self, path),
            KerasFormat::Keras3Zip => keras3::write(self, path),
        }
    }
}
