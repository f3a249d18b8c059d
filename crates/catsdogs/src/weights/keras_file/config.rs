//! The layers of a model config, as far as the files' layouts need them: which layers a model
//! saves, in order, under which names, and the nested models among them. What each layer's own
//! config means is not read here.
//!
//! Both Kerases save a model's `model.layers`: a Sequential's layers without its leading
//! `InputLayer` (which its config lists), a functional model's with its inputs. Keras 2 names
//! each saved layer's group after the layer; Keras 3 after its class in snake case, numbered
//! within its model in order (`conv2d`, `conv2d_1`, ...; `max_pooling2d`, `re_lu`,
//! `functional`), as `saving_lib`'s `_save_container_state` does.

use serde_json::Value;

/// A layer of a model config: its class, its name and, for a nested model, its own layers;
/// and the config's entry for it as stored, for readers of what the layer is.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::weights) struct ConfigLayer {
    pub(in crate::weights) class_name: String,
    pub(in crate::weights) name: String,
    /// The layers the model saves, for a Sequential or functional model; `None` for a layer.
    pub(in crate::weights) layers: Option<Vec<ConfigLayer>>,
    /// The config's entry for the layer (`{"class_name": ..., "config": {...}, ...}`).
    pub(in crate::weights) entry: Value,
}

/// A saved layer: its names from the outermost model down (`["vgg16", "block1_conv1"]`) and,
/// in a Keras 3 weights file, its group (`layers/functional/layers/conv2d`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SavedLayer {
    pub(super) path: Vec<String>,
    pub(super) store: String,
}

/// Why a config is not a model's that this module reads; it reads as a phrase about the
/// config ("has a Dense without a name").
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(in crate::weights) enum ConfigRefusal {
    /// The config's root is a layer (its class), not a model.
    #[error("describes a {0} rather than a Sequential or functional model, the only models catsdogs reads")]
    NotAModel(String),
    /// A layer without its class.
    #[error("has a layer without a class_name")]
    NoClassName,
    /// A layer (its class) without a name.
    #[error("has a {0} without a name")]
    NoName(String),
}

impl ConfigLayer {
    /// The model of a config (`{"class_name": "Sequential", "config": {"name": ..., "layers":
    /// [...]}}`); what is missing when it is not one.
    pub(in crate::weights) fn model(config: &Value) -> Result<Self, ConfigRefusal> {
        let layer = Self::parse(config)?;
        if layer.layers.is_none() {
            return Err(ConfigRefusal::NotAModel(layer.class_name));
        }
        Ok(layer)
    }

    fn parse(entry: &Value) -> Result<Self, ConfigRefusal> {
        let class_name = entry["class_name"]
            .as_str()
            .ok_or(ConfigRefusal::NoClassName)?
            .to_string();
        let config = &entry["config"];
        let name = config["name"]
            .as_str()
            .or_else(|| entry["name"].as_str())
            .ok_or_else(|| ConfigRefusal::NoName(class_name.clone()))?
            .to_string();
        // Keras 2.2's Sequential config is the list of layers itself.
        let listed = config["layers"].as_array().or_else(|| config.as_array());
        let layers = match listed {
            None => None,
            Some(entries) => {
                let mut layers = entries
                    .iter()
                    .map(Self::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                if class_name == "Sequential"
                    && layers.first().is_some_and(|l| l.class_name == "InputLayer")
                {
                    layers.remove(0);
                }
                Some(layers)
            }
        };
        Ok(ConfigLayer {
            class_name,
            name,
            layers,
            entry: entry.clone(),
        })
    }

    /// The names of the layers this model saves, in order (Keras 2's `layer_names`).
    pub(super) fn layer_names(&self) -> Vec<String> {
        self.layers
            .iter()
            .flatten()
            .map(|layer| layer.name.clone())
            .collect()
    }

    /// Every layer this model saves, nested models' layers after the nested model, depth
    /// first, with its Keras 3 group: Keras 3's order of saving.
    pub(super) fn saved_layers(&self) -> Vec<SavedLayer> {
        let mut saved = Vec::new();
        self.collect(&[], "", &mut saved);
        saved
    }

    fn collect(&self, path: &[String], store: &str, saved: &mut Vec<SavedLayer>) {
        let mut used: Vec<(String, usize)> = Vec::new();
        for layer in self.layers.iter().flatten() {
            let base = snake_case(&layer.class_name);
            let name = match used.iter_mut().find(|(name, _)| *name == base) {
                Some((_, count)) => {
                    *count += 1;
                    format!("{base}_{count}")
                }
                None => {
                    used.push((base.clone(), 0));
                    base
                }
            };
            let layer_path = [path, std::slice::from_ref(&layer.name)].concat();
            let layer_store = format!("{store}layers/{name}");
            saved.push(SavedLayer {
                path: layer_path.clone(),
                store: layer_store.clone(),
            });
            layer.collect(&layer_path, &format!("{layer_store}/"), saved);
        }
    }
}

/// Keras's `to_snake_case`: `Conv2D` to `conv2d`, `MaxPooling2D` to `max_pooling2d`,
/// `BatchNormalization` to `batch_normalization`, `ReLU` to `re_lu`.
pub(super) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // `(.)([A-Z][a-z]+)` to `\1_\2`, then `([a-z])([A-Z])` to `\1_\2`, then lower case.
    let mut first = Vec::with_capacity(chars.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let word = c.is_ascii_uppercase() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
        if word && i > 0 {
            first.push('_');
        }
        first.push(c);
    }
    let mut snake = String::with_capacity(first.len() + 8);
    for (i, &c) in first.iter().enumerate() {
        if i > 0 && first[i - 1].is_ascii_lowercase() && c.is_ascii_uppercase() {
            snake.push('_');
        }
        snake.push(c);
    }
    snake.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn class_names_become_keras_snake_case() {
        let cases = [
            ("Conv2D", "conv2d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("BatchNormalization", "batch_normalization"),
            ("ReLU", "re_lu"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("DepthwiseConv2D", "depthwise_conv2d"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("InputLayer", "input_layer"),
            ("Functional", "functional"),
            ("Dense", "dense"),
        ];
        for (class, snake) in cases {
            assert_eq!(snake_case(class), snake, "{class}");
        }
    }

    fn layer(class: &str, name: &str) -> Value {
        json!({"class_name": class, "config": {"name": name}})
    }

    #[test]
    fn saved_layers_follow_keras_order_and_names() {
        let base = json!({"class_name": "Functional", "config": {"name": "vgg16", "layers": [
            layer("InputLayer", "input_1"), layer("Conv2D", "block1_conv1"),
            layer("Conv2D", "block1_conv2"), layer("MaxPooling2D", "block1_pool"),
        ]}});
        let model = json!({"class_name": "Sequential", "config": {"name": "sequential", "layers": [
            layer("InputLayer", "input_2"), base, layer("Flatten", "flatten"),
            layer("Dense", "dense"), layer("Dense", "dense_7"),
        ]}});
        let model = ConfigLayer::model(&model).unwrap();
        assert_eq!(
            model.layer_names(),
            ["vgg16", "flatten", "dense", "dense_7"]
        );
        let saved: Vec<(String, String)> = model
            .saved_layers()
            .into_iter()
            .map(|s| (s.path.join("/"), s.store))
            .collect();
        let expected = [
            ("vgg16", "layers/functional"),
            ("vgg16/input_1", "layers/functional/layers/input_layer"),
            ("vgg16/block1_conv1", "layers/functional/layers/conv2d"),
            ("vgg16/block1_conv2", "layers/functional/layers/conv2d_1"),
            (
                "vgg16/block1_pool",
                "layers/functional/layers/max_pooling2d",
            ),
            ("flatten", "layers/flatten"),
            ("dense", "layers/dense"),
            ("dense_7", "layers/dense_1"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        assert_eq!(saved, expected);
    }

    #[test]
    fn a_config_that_is_no_model_says_what_it_is() {
        assert_eq!(
            ConfigLayer::model(&layer("Dense", "dense"))
                .unwrap_err()
                .to_string(),
            "describes a Dense rather than a Sequential or functional model, the only models catsdogs reads"
        );
        assert_eq!(
            ConfigLayer::model(&json!({"config": {}})).unwrap_err(),
            ConfigRefusal::NoClassName
        );
    }
}
