//! The kinds of layer, Keras's layer classes, each kept in one place: the weights it has, the
//! shape it gives for an input (and so what it takes), its computation, and its saved form.
//!
//! Each kind is a small struct of the sizes that fix its weights' shapes (so a model can be
//! rebuilt from its description alone) implementing [`Op`]; [`LayerKind`] is one of them. The
//! saved form of a kind is Keras's pair of a class name and a config,
//! `{"class_name": "Conv2D", "config": {"in_channels": 3, ...}}`: the config is the struct as
//! serde writes it.
//!
//! Weight layouts (what [`super::Layer::weights`] holds, and what saved files hold):
//! - `Conv2D`: `kernel` (filters, in_channels, k, k), libtorch's OIHW; `bias` (filters) if used.
//! - `DepthwiseConv2D`: `depthwise_kernel` (channels, 1, k, k), libtorch's grouped OIHW; `bias`
//!   (channels) if used.
//! - `BatchNormalization`: `gamma`, `beta`, `moving_mean`, `moving_variance`, each (channels);
//!   the last two are statistics, never trained by the optimizer (Keras's non-trainable weights).
//! - `Dense`: `kernel` (inputs, units), as in Keras; `bias` (units).
//!
//! Each kind also reads and writes its Keras config ([`KerasLayer`], in the kind's file), so
//! that Keras's model files load ([`crate::weights::load_model`]) and models save as Keras's.
//!
//! The families: `window` (the window of convolutions and poolings), `conv`, `pooling`,
//! `normalization`, `core` (Dense, Dropout, Activation, ReLU, the activation functions),
//! `reshaping` (Flatten, ZeroPadding2D), `merge` (Add) and `preprocessing` (Rescaling); `keras`
//! reads configs for them all.

mod conv;
mod core;
mod keras;
mod merge;
mod normalization;
mod pooling;
mod preprocessing;
mod reshaping;
mod window;

use serde::{Deserialize, Serialize};
use tch::Tensor;

pub use self::core::{Activation, ActivationLayer, Dense, Dropout, Relu};
pub use conv::{Conv2d, DepthwiseConv2d};
pub use keras::{KerasConfig, KerasLayer, KerasRefusal};
pub use merge::Add;
pub use normalization::BatchNormalization;
pub use pooling::{AveragePooling2d, GlobalAveragePooling2d, GlobalMaxPooling2d, MaxPooling2d};
pub use preprocessing::Rescaling;
pub use reshaping::{Flatten, ZeroPadding2d};
pub use window::{Padding, Window};

use crate::error::Result;
use crate::precision::Compute;

/// How a weight starts in a new layer, as Keras initialises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// `glorot_uniform`: uniform in ±sqrt(6 / (fan_in + fan_out)).
    Glorot,
    /// Zeros (biases, `beta`, `moving_mean`).
    Zeros,
    /// Ones (`gamma`, `moving_variance`).
    Ones,
}

/// One weight of a kind of layer: its name, shape (this crate's layout), initialisation, and
/// whether the optimizer trains it (a batch normalisation's moving statistics it never does).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSpec {
    /// Keras's name: `kernel`, `bias`, `gamma`, `moving_mean`, ...
    pub name: &'static str,
    /// Its shape.
    pub shape: Vec<i64>,
    /// How a new layer initialises it.
    pub init: Init,
    /// Whether a trainable layer's optimizer updates it.
    pub trained: bool,
}

impl WeightSpec {
    /// A weight the optimizer trains.
    fn trained(name: &'static str, shape: Vec<i64>, init: Init) -> Self {
        WeightSpec {
            name,
            shape,
            init,
            trained: true,
        }
    }
}

/// How a layer runs: in training (dropout on, batch statistics for a trainable batch
/// normalisation) or not, and in what precision and memory layout.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// `fit`'s forward pass rather than inference.
    pub train: bool,
    /// Whether the layer itself is trainable.
    pub trainable: bool,
    /// The tensor kind and layout of the computation.
    pub compute: Compute,
}

/// What one kind of layer does. The shape rule is also the check: a kind gives no output shape
/// for an input it cannot take, or when its own sizes are not sane, and says in
/// [`expects`](Op::expects) what it needs instead.
pub trait Op {
    /// The weights, in Keras's order. Empty for layers without weights.
    fn weights(&self) -> Vec<WeightSpec> {
        Vec::new()
    }

    /// The fan-in and fan-out of the kernel, as Keras's `glorot_uniform` counts them.
    fn fan_in_out(&self) -> (i64, i64) {
        (0, 0)
    }

    /// The shape of one sample of the output for one sample of the (first) input, NCHW without
    /// the batch axis (`[channels, height, width]`, or `[features]` once flat); `None` if the
    /// layer cannot take it.
    fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>>;

    /// What the layer takes, in words, for the message when it cannot take an input: "maps of
    /// 64 channels, at least 3x3".
    fn expects(&self) -> String;

    /// How many inputs the layer takes, at least (and at most unless it takes any number).
    fn inputs(&self) -> (usize, Option<usize>) {
        (1, Some(1))
    }

    /// Whether [`run`](Op::run) takes its weights as [`Compute::prepare`] makes them (in the
    /// computation's kind, kernels in its layout) rather than in float32 as the layer holds
    /// them; the layer then prepares them, once for as long as they stay unchanged where no
    /// gradient reaches them.
    fn prepares_weights(&self) -> bool {
        false
    }

    /// The output for `inputs`, whose shapes [`output_shape`](Op::output_shape) accepted,
    /// with `weights` in [`weights`](Op::weights)' order (prepared for `mode.compute` if the
    /// kind [`prepares_weights`](Op::prepares_weights)).
    fn run(&self, inputs: &[&Tensor], weights: &[Tensor], mode: Mode) -> Result<Tensor>;
}

/// Declares [`LayerKind`]: one variant per kind, with its Keras class name.
macro_rules! layer_kinds {
    ($($variant:ident($kind:ty) = $class:literal,)*) => {
        /// What a layer computes, as data: one of Keras's layer classes with the sizes that fix
        /// its weights' shapes.
        #[derive(Clone, Debug, PartialEq)]
        pub enum LayerKind {
            $(
                #[doc = concat!("`", $class, "`.")]
                $variant($kind),
            )*
        }

        impl LayerKind {
            /// The kind's behaviour.
            pub fn op(&self) -> &dyn Op {
                match self {
                    $(LayerKind::$variant(kind) => kind,)*
                }
            }

            /// Keras's class name: `Conv2D`, `BatchNormalization`, `Dense`, ...
            pub fn class_name(&self) -> &'static str {
                match self {
                    $(LayerKind::$variant(_) => $class,)*
                }
            }

            /// The config of the saved form: the kind's sizes as serde writes them.
            fn config(&self) -> serde_json::Value {
                match self {
                    $(LayerKind::$variant(kind) => {
                        serde_json::to_value(kind).expect("layer configs serialise")
                    })*
                }
            }

            /// The kind of class `class` with the config `config`; `None` for a class this
            /// crate does not have.
            fn from_config(
                class: &str,
                config: serde_json::Value,
            ) -> Option<serde_json::Result<LayerKind>> {
                match class {
                    $($class => Some(serde_json::from_value(config).map(LayerKind::$variant)),)*
                    _ => None,
                }
            }

            /// Every class name this crate has.
            pub const CLASS_NAMES: &'static [&'static str] = &[$($class,)*];

            /// The kind that Keras's layer of class `class` with `config` computes; `None` for
            /// a class this crate does not have, a phrase for a config it cannot compute.
            pub fn from_keras(
                class: &str,
                config: &KerasConfig,
            ) -> Option<std::result::Result<LayerKind, KerasRefusal>> {
                match class {
                    $($class => Some(<$kind as KerasLayer>::from_keras(config).map(LayerKind::$variant)),)*
                    _ => None,
                }
            }

            /// The kind's keys of Keras's config (see [`KerasLayer::keras_config`]).
            pub fn keras_config(&self) -> std::result::Result<serde_json::Value, KerasRefusal> {
                match self {
                    $(LayerKind::$variant(kind) => kind.keras_config(),)*
                }
            }
        }

        $(
            impl From<$kind> for LayerKind {
                fn from(kind: $kind) -> Self {
                    LayerKind::$variant(kind)
                }
            }
        )*
    };
}

layer_kinds! {
    Conv2d(Conv2d) = "Conv2D",
    DepthwiseConv2d(DepthwiseConv2d) = "DepthwiseConv2D",
    BatchNormalization(BatchNormalization) = "BatchNormalization",
    ZeroPadding2d(ZeroPadding2d) = "ZeroPadding2D",
    MaxPooling2d(MaxPooling2d) = "MaxPooling2D",
    AveragePooling2d(AveragePooling2d) = "AveragePooling2D",
    GlobalAveragePooling2d(GlobalAveragePooling2d) = "GlobalAveragePooling2D",
    GlobalMaxPooling2d(GlobalMaxPooling2d) = "GlobalMaxPooling2D",
    Activation(ActivationLayer) = "Activation",
    Relu(Relu) = "ReLU",
    Add(Add) = "Add",
    Flatten(Flatten) = "Flatten",
    Dense(Dense) = "Dense",
    Dropout(Dropout) = "Dropout",
    Rescaling(Rescaling) = "Rescaling",
}

impl LayerKind {
    /// The weights' names and shapes, in Keras's order (`kernel`, then `bias`; `gamma`, `beta`,
    /// `moving_mean`, `moving_variance`), in this crate's layout (see the module's
    /// documentation). Empty for layers without weights.
    ///
    /// ```
    /// use catsdogs::model::{Activation, BatchNormalization, Conv2d, LayerKind};
    /// let conv = LayerKind::from(Conv2d::vgg(3, 64, Activation::Relu));
    /// assert_eq!(conv.weight_shapes(), vec![("kernel", vec![64, 3, 3, 3]), ("bias", vec![64])]);
    /// let bn = LayerKind::from(BatchNormalization { channels: 8, epsilon: 1e-3, momentum: 0.99 });
    /// assert_eq!(bn.weight_shapes()[3], ("moving_variance", vec![8]));
    /// ```
    pub fn weight_shapes(&self) -> Vec<(&'static str, Vec<i64>)> {
        self.op()
            .weights()
            .into_iter()
            .map(|w| (w.name, w.shape))
            .collect()
    }

    /// The shape of one output sample for one input sample, or `None` when the layer cannot
    /// take it (see [`Op::output_shape`]).
    ///
    /// ```
    /// use catsdogs::model::{Dropout, LayerKind, MaxPooling2d};
    /// assert_eq!(LayerKind::from(MaxPooling2d::vgg()).output_shape(&[64, 7, 9]), Some(vec![64, 3, 4]));
    /// assert_eq!(LayerKind::from(MaxPooling2d::vgg()).output_shape(&[64, 1, 1]), None);
    /// assert_eq!(LayerKind::from(Dropout { rate: 5.0 }).output_shape(&[10]), None);
    /// ```
    pub fn output_shape(&self, input: &[i64]) -> Option<Vec<i64>> {
        self.op().output_shape(input)
    }
}

/// The saved form: `{"class_name": ..., "config": ...}`.
#[derive(Serialize, Deserialize)]
struct Saved {
    class_name: String,
    config: serde_json::Value,
}

impl Serialize for LayerKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Saved {
            class_name: self.class_name().to_string(),
            config: self.config(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LayerKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let saved = Saved::deserialize(deserializer)?;
        match LayerKind::from_config(&saved.class_name, saved.config) {
            Some(kind) => kind.map_err(D::Error::custom),
            None => Err(D::Error::custom(format!(
                "a layer of class {}, which this crate does not have (it has {})",
                saved.class_name,
                LayerKind::CLASS_NAMES.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_form_is_a_class_name_and_a_config() {
        let conv = LayerKind::from(Conv2d::vgg(3, 64, Activation::Relu));
        let json = serde_json::to_value(&conv).unwrap();
        assert_eq!(json["class_name"], "Conv2D");
        assert_eq!(json["config"]["filters"], 64);
        assert_eq!(serde_json::from_value::<LayerKind>(json).unwrap(), conv);
        for kind in [
            LayerKind::from(Flatten {}),
            LayerKind::from(MaxPooling2d::vgg()),
            LayerKind::from(Relu {
                max_value: Some(6.0),
            }),
            LayerKind::from(Add {}),
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<LayerKind>(&json).unwrap(), kind);
        }
        let unknown = r#"{"class_name": "LSTM", "config": {}}"#;
        let error = serde_json::from_str::<LayerKind>(unknown).unwrap_err();
        assert!(error.to_string().contains("LSTM"), "{error}");
    }

    /// Every kind's Keras config reads back as the same kind, for the input it takes.
    #[test]
    fn keras_configs_read_back_as_the_same_kind() {
        let window = Window::new(3, 2, Padding::Same);
        let cases: Vec<(LayerKind, Vec<i64>)> = vec![
            (
                Conv2d {
                    in_channels: 3,
                    filters: 8,
                    activation: Activation::Relu,
                    window: window.dilated(2).without_bias(),
                }
                .into(),
                vec![3, 16, 16],
            ),
            (
                DepthwiseConv2d {
                    channels: 8,
                    window: Window::new(3, 1, Padding::Valid),
                }
                .into(),
                vec![8, 9, 9],
            ),
            (
                MaxPooling2d {
                    pool_size: 3,
                    strides: 2,
                    padding: Padding::Same,
                }
                .into(),
                vec![4, 9, 9],
            ),
            (
                AveragePooling2d {
                    pool_size: 2,
                    strides: 1,
                    padding: Padding::Valid,
                }
                .into(),
                vec![4, 9, 9],
            ),
            (GlobalAveragePooling2d {}.into(), vec![4, 3, 3]),
            (GlobalMaxPooling2d {}.into(), vec![4, 3, 3]),
            (
                BatchNormalization {
                    channels: 4,
                    epsilon: 1e-3,
                    momentum: 0.9,
                }
                .into(),
                vec![4, 3, 3],
            ),
            (
                ZeroPadding2d {
                    padding: [1, 2, 0, 3],
                }
                .into(),
                vec![4, 3, 3],
            ),
            (
                ActivationLayer {
                    activation: Activation::Softmax,
                }
                .into(),
                vec![10],
            ),
            (
                Relu {
                    max_value: Some(6.0),
                }
                .into(),
                vec![4, 3, 3],
            ),
            (Relu { max_value: None }.into(), vec![10]),
            (Add {}.into(), vec![4, 3, 3]),
            (Flatten {}.into(), vec![4, 3, 3]),
            (
                Dense {
                    inputs: 36,
                    units: 2,
                    activation: Activation::Sigmoid,
                }
                .into(),
                vec![36],
            ),
            (Dropout { rate: 0.5 }.into(), vec![36]),
            (
                Rescaling {
                    scale: 1.0 / 255.0,
                    offset: -1.0,
                }
                .into(),
                vec![3, 4, 4],
            ),
        ];
        let mut classes: Vec<&str> = Vec::new();
        for (kind, input) in cases {
            let config = kind.keras_config().unwrap();
            let keras = KerasConfig::new(&config, &input).unwrap();
            let read = LayerKind::from_keras(kind.class_name(), &keras);
            assert_eq!(read, Some(Ok(kind.clone())), "{config}");
            classes.push(kind.class_name());
        }
        classes.sort_unstable();
        classes.dedup();
        let mut all = LayerKind::CLASS_NAMES.to_vec();
        all.sort_unstable();
        assert_eq!(classes, all, "one case per class at least");
    }

    /// Keras's other ways of writing a window, and what no kind computes, each a phrase.
    #[test]
    fn keras_configs_in_other_forms_and_refusals() {
        let read = |class: &str, config: serde_json::Value, input: &[i64]| {
            let keras = KerasConfig::new(&config, input).unwrap();
            LayerKind::from_keras(class, &keras)
                .unwrap()
                .map_err(|why| why.to_string())
        };
        let pad = read(
            "ZeroPadding2D",
            serde_json::json!({"padding": 2}),
            &[3, 4, 4],
        );
        assert_eq!(pad, Ok(ZeroPadding2d { padding: [2; 4] }.into()));
        let pad = read(
            "ZeroPadding2D",
            serde_json::json!({"padding": [1, 3]}),
            &[3, 4, 4],
        );
        assert_eq!(
            pad,
            Ok(ZeroPadding2d {
                padding: [1, 1, 3, 3]
            }
            .into())
        );
        let pool = read(
            "MaxPooling2D",
            serde_json::json!({"pool_size": [3, 3], "strides": null}),
            &[3, 9, 9],
        );
        assert_eq!(
            pool,
            Ok(MaxPooling2d {
                pool_size: 3,
                strides: 3,
                padding: Padding::Valid
            }
            .into())
        );
        let conv = serde_json::json!({"filters": 4, "kernel_size": [3, 5]});
        assert_eq!(
            read("Conv2D", conv, &[3, 9, 9]),
            Err("has kernel_size=[3,5], where catsdogs runs square windows, equal strides and equal dilations only".into())
        );
        let conv =
            serde_json::json!({"filters": 4, "kernel_size": 3, "data_format": "channels_first"});
        assert_eq!(
            read("Conv2D", conv, &[3, 9, 9]),
            Err("has data_format=\"channels_first\", where catsdogs reads channels-last models only".into())
        );
        let relu = serde_json::json!({"negative_slope": 0.1});
        assert_eq!(
            read("ReLU", relu, &[3]),
            Err("has negative_slope=0.1, where catsdogs's ReLU has negative_slope=0 only".into())
        );
        let dense = serde_json::json!({"units": 2, "activation": "tanh"});
        assert_eq!(
            read("Dense", dense, &[3]),
            Err(
                "has the activation \"tanh\", where catsdogs has linear, relu, sigmoid and softmax"
                    .into()
            )
        );
        let keepdims = serde_json::json!({"keepdims": true});
        assert!(read("GlobalAveragePooling2D", keepdims, &[3, 2, 2]).is_err());
    }

    /// TensorFlow's 'same' poolings: ceil(size / stride) outputs.
    #[test]
    fn same_poolings_give_tensorflows_sizes() {
        let pool = |padding| {
            LayerKind::from(AveragePooling2d {
                pool_size: 3,
                strides: 2,
                padding,
            })
        };
        assert_eq!(
            pool(Padding::Same).output_shape(&[4, 7, 8]),
            Some(vec![4, 4, 4])
        );
        assert_eq!(
            pool(Padding::Valid).output_shape(&[4, 7, 8]),
            Some(vec![4, 3, 3])
        );
        assert_eq!(pool(Padding::Symmetric(1)).output_shape(&[4, 7, 8]), None);
    }

    #[test]
    fn windows_give_keras_sizes() {
        let conv = |k, s, padding| {
            LayerKind::from(Conv2d {
                in_channels: 3,
                filters: 8,
                activation: Activation::Linear,
                window: Window::new(k, s, padding),
            })
        };
        // ResNet50's conv1 after its 3-pixel padding, MobileNetV2's Conv1.
        let shape = |kind: LayerKind, input: &[i64]| kind.output_shape(input);
        assert_eq!(
            shape(conv(7, 2, Padding::Valid), &[3, 230, 230]),
            Some(vec![8, 112, 112])
        );
        assert_eq!(
            shape(conv(3, 2, Padding::Same), &[3, 224, 224]),
            Some(vec![8, 112, 112])
        );
        assert_eq!(
            shape(conv(3, 2, Padding::Same), &[3, 225, 7]),
            Some(vec![8, 113, 4])
        );
        assert_eq!(
            shape(conv(1, 2, Padding::Valid), &[3, 56, 56]),
            Some(vec![8, 28, 28])
        );
        assert_eq!(
            shape(conv(3, 2, Padding::Symmetric(1)), &[3, 56, 56]),
            Some(vec![8, 28, 28])
        );
        assert_eq!(shape(conv(7, 2, Padding::Valid), &[3, 6, 6]), None);
        assert_eq!(shape(conv(3, 1, Padding::Valid), &[4, 6, 6]), None);
        let zero_filters = LayerKind::from(Conv2d {
            filters: 0,
            ..Conv2d::vgg(3, 1, Activation::Relu)
        });
        assert_eq!(zero_filters.output_shape(&[3, 6, 6]), None);
        let pool = LayerKind::from(MaxPooling2d {
            pool_size: 3,
            strides: 2,
            padding: Padding::Valid,
        });
        assert_eq!(pool.output_shape(&[64, 114, 114]), Some(vec![64, 56, 56]));
        let pad = LayerKind::from(ZeroPadding2d {
            padding: [0, 1, 0, 1],
        });
        assert_eq!(pad.output_shape(&[8, 4, 4]), Some(vec![8, 5, 5]));
        assert_eq!(
            LayerKind::from(GlobalAveragePooling2d {}).output_shape(&[2048, 7, 7]),
            Some(vec![2048])
        );
    }
}
