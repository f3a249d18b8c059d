//! ImageNet's 1000 classes and Keras's `decode_predictions`: turns VGG16's class probabilities
//! into the top classes of each image, as (index, WordNet id, name, probability).
//!
//! The class index is embedded: Keras's own `imagenet_class_index.json`, byte for byte
//! (`{"0": ["n01440764", "tench"], ...}`).
//!
//! ```
//! use catsdogs::imagenet::{class_index, decode_predictions};
//! assert_eq!(class_index()[0], ("n01440764".to_string(), "tench".to_string()));
//! let mut probs = vec![0f32; 1000];
//! probs[281] = 0.7; // tabby
//! probs[285] = 0.2; // Egyptian_cat
//! let probs = tch::Tensor::from_slice(&probs).reshape([1, 1000]);
//! let top = decode_predictions(&probs, 2).unwrap();
//! assert_eq!(top[0][0].name, "tabby");
//! assert_eq!(top[0][1].wnid, "n02124075");
//! assert_eq!(top[0][1].probability, 0.2);
//! ```

use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Keras's `imagenet_class_index.json`, byte-identical.
pub const CLASS_INDEX_JSON: &str = include_str!("../data/imagenet_class_index.json");

/// Number of ImageNet classes.
pub const CLASS_COUNT: usize = 1000;

/// The classes by index: (WordNet id, name).
pub fn class_index() -> &'static [(String, String)] {
    static INDEX: OnceLock<Vec<(String, String)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let map: std::collections::HashMap<usize, (String, String)> =
            serde_json::from_str(CLASS_INDEX_JSON).expect("the embedded class index is valid");
        (0..CLASS_COUNT)
            .map(|i| {
                map.get(&i)
                    .cloned()
                    .expect("the class index has 1000 classes")
            })
            .collect()
    })
}

/// One class of an image's top predictions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The class's index in the model's output (0-999).
    pub index: usize,
    /// WordNet id, e.g. `n02123045`.
    pub wnid: String,
    /// Keras's class name, e.g. `tabby`.
    pub name: String,
    /// The model's probability for the class.
    #[serde(rename = "prob")]
    pub probability: f32,
}

impl fmt::Display for Prediction {
    /// Python's repr of Keras's tuple: `('n02123045', 'tabby', 0.51873)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}, {}, {})",
            python_str(&self.wnid),
            python_str(&self.name),
            python_float(self.probability)
        )
    }
}

/// Keras's `decode_predictions(preds, top)`: for each row of `probs` (samples, 1000), the `top`
/// classes by decreasing probability. Ties are ordered as Keras's `argsort()[-top:][::-1]`
/// orders them with a stable sort: the higher index first.
pub fn decode_predictions(probs: &Tensor, top: usize) -> Result<Vec<Vec<Prediction>>> {
    let size = probs.size();
    if size.len() != 2 || size[1] != CLASS_COUNT as i64 {
        return Err(Error::PredictionShape(size));
    }
    let values = probs
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?;
    let values: Vec<f32> = Vec::try_from(values.f_flatten(0, -1)?)?;
    let index = class_index();
    Ok(values
        .chunks(CLASS_COUNT)
        .map(|row| {
            let mut order: Vec<usize> = (0..CLASS_COUNT).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(b.cmp(&a)));
            order
                .into_iter()
                .take(top)
                .map(|i| Prediction {
                    index: i,
                    wnid: index[i].0.clone(),
                    name: index[i].1.clone(),
                    probability: row[i],
                })
                .collect()
        })
        .collect())
}

/// Python's repr of a `str`: single quotes unless the text has a single quote and no double one.
fn python_str(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Python's repr of a float32 value as numpy prints it: the shortest digits that read back to
/// the same float32, positional from 1e-4 up to 1e16, else with an exponent (`1e-05`).
pub fn python_float(x: f32) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_string();
    }
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if x == 0.0 || (-4..16).contains(&exponent) {
        let positional = format!("{x}");
        if positional.contains('.') {
            positional
        } else {
            format!("{positional}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(python_float(0.82658225), "0.82658225");
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(0.0), "0.0");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(1.5e-7), "1.5e-07");
        assert_eq!(python_float(0.0001), "0.0001");
        assert_eq!(python_float(1e16), "1e+16");
    }

    #[test]
    fn strings_print_like_python() {
        assert_eq!(python_str("tabby"), "'tabby'");
        assert_eq!(python_str("potter's_wheel"), "\"potter's_wheel\"");
    }
}
