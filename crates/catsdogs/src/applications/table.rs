//! How the networks' tables are written: layers added one after the other as Keras's
//! functional code adds them, each knowing the shape it gives, so that a table reads like the
//! Keras function it mirrors. The top (or the pooling without it) is added the same way for
//! every network.

use std::collections::HashMap;

use super::Pooling;
use crate::model::{
    Activation, Dense, GlobalAveragePooling2d, GlobalMaxPooling2d, LayerKind, LayerSpec,
};

/// The layers written so far and the shape each gives.
pub(super) struct Table {
    specs: Vec<LayerSpec>,
    shapes: HashMap<String, Vec<i64>>,
    input: Vec<i64>,
}

impl Table {
    /// An empty table for images of `height` x `width`.
    pub(super) fn new(height: i64, width: i64) -> Table {
        Table {
            specs: Vec::new(),
            shapes: HashMap::new(),
            input: vec![3, height, width],
        }
    }

    /// The name of the last layer written.
    pub(super) fn last(&self) -> String {
        self.specs
            .last()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// The shape of one sample at the output of layer `name` (the input's if there is none).
    pub(super) fn shape_of(&self, name: &str) -> Vec<i64> {
        self.shapes.get(name).unwrap_or(&self.input).clone()
    }

    /// The channels of the last layer's output.
    pub(super) fn channels(&self) -> i64 {
        self.shape_of(&self.last())[0]
    }

    /// Adds the layer `name` taking the last layer's output.
    pub(super) fn add(&mut self, name: impl Into<String>, kind: impl Into<LayerKind>) -> String {
        self.add_from(name, kind, &[])
    }

    /// Adds the layer `name` taking the outputs of `inputs` (the last layer's if empty; a
    /// layer named when it is the last one is taken the same way).
    pub(super) fn add_from(
        &mut self,
        name: impl Into<String>,
        kind: impl Into<LayerKind>,
        inputs: &[&str],
    ) -> String {
        let (name, kind) = (name.into(), kind.into());
        let last = self.last();
        let takes_last = inputs.is_empty() || inputs == [last.as_str()];
        let input_shape = self.shape_of(inputs.first().copied().unwrap_or(&last));
        let shape = kind
            .output_shape(&input_shape)
            .expect("a network's table gives each layer an input it takes");
        self.shapes.insert(name.clone(), shape);
        self.specs.push(LayerSpec {
            name: name.clone(),
            kind,
            inputs: if takes_last {
                Vec::new()
            } else {
                inputs.iter().map(|s| s.to_string()).collect()
            },
        });
        name
    }

    /// Ends the table: Keras's top when `top` is `Some((pooling layer name, dense layers))`,
    /// else the `pooling` asked for, named `avg_pool` and `max_pool` when `pool_names` says so
    /// (ResNet50) and as Keras names unnamed layers otherwise.
    pub(super) fn finish(
        mut self,
        top: Option<Top>,
        pooling: Pooling,
        pool_names: [&str; 2],
    ) -> Vec<LayerSpec> {
        match top {
            Some(top) => {
                self.add(top.pool, top.pool_kind);
                let mut inputs = self.shape_of(&self.last()).iter().product();
                for (name, units, activation) in top.dense {
                    let kind = Dense {
                        inputs,
                        units: *units,
                        activation: *activation,
                    };
                    self.add(*name, kind);
                    inputs = *units;
                }
            }
            None => match pooling {
                Pooling::None => {}
                Pooling::Avg => {
                    self.add(pool_names[0], GlobalAveragePooling2d {});
                }
                Pooling::Max => {
                    self.add(pool_names[1], GlobalMaxPooling2d {});
                }
            },
        }
        self.specs
    }
}

/// A network's ImageNet top: what reduces the maps, then dense layers.
pub(super) struct Top {
    /// The layer that reduces the maps (`flatten`, `avg_pool`, ...).
    pub(super) pool: &'static str,
    /// Its kind.
    pub(super) pool_kind: LayerKind,
    /// (name, units, activation) of each dense layer.
    pub(super) dense: &'static [(&'static str, i64, Activation)],
}

/// The 1000 ImageNet classes of the last layer, as probabilities.
pub(super) const PREDICTIONS: (&str, i64, Activation) = ("predictions", 1000, Activation::Softmax);

/// The names Keras gives unnamed global poolings (VGG's and MobileNetV2's).
pub(super) const GLOBAL_POOLS: [&str; 2] = ["global_average_pooling2d", "global_max_pooling2d"];
