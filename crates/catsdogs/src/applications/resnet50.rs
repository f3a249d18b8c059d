//! ResNet50 as Keras builds it (`keras.applications.ResNet50`, the ResNet "v1" of He et al.):
//! `conv1_pad`, `conv1_conv` (7x7, stride 2), `conv1_bn`, `conv1_relu`, `pool1_pad`,
//! `pool1_pool`, then four stages of bottleneck blocks (`conv2_block1_1_conv` ...
//! `conv5_block3_out`), each block `1x1 -> 3x3 -> 1x1` convolutions with batch normalisation
//! (epsilon 1.001e-5) added to a shortcut; the first block of a stage has a convolution on its
//! shortcut (`_0_conv`, `_0_bn`) and, from stage 3 on, stride 2. With the top, `avg_pool` and
//! `predictions`. The layers are in Keras's `model.layers` order, which puts a block's
//! shortcut after its second convolution.
//!
//! torchvision's `resnet50` differs (ResNet "v1.5"), and its flavor here follows it: the stride
//! of a stage's first block is on the 3x3 convolution (padded 1 on every side) instead of the
//! first 1x1, the convolutions have no bias, and batch normalisation's epsilon is 1e-5.
//!
//! ```
//! use catsdogs::applications::{resnet50, Flavor, Pooling};
//! let layers = resnet50::layers(Flavor::Keras, true, Pooling::None, 224, 224);
//! assert_eq!(layers.len(), 176);
//! assert_eq!(layers[12].name, "conv2_block1_0_conv");
//! assert_eq!(layers[12].inputs, ["pool1_pool"]);
//! ```

use super::table::{Table, Top, PREDICTIONS};
use super::{Flavor, Pooling};
use crate::model::{
    Activation, ActivationLayer, Add, BatchNormalization, Conv2d, GlobalAveragePooling2d,
    LayerSpec, MaxPooling2d, Padding, Window, ZeroPadding2d,
};

/// Each stage's bottleneck filters and number of blocks (stages conv2 to conv5).
const STAGES: [(i64, usize); 4] = [(64, 3), (128, 4), (256, 6), (512, 3)];

/// Keras's epsilon for ResNet's batch normalisations, and torchvision's.
const KERAS_EPSILON: f64 = 1.001e-5;
const TORCH_EPSILON: f64 = 1e-5;

/// The layers of ResNet50 in Keras's order, for input images of `height` x `width`, with the
/// top or else the `pooling` asked for, as `flavor` defines the network.
pub fn layers(
    flavor: Flavor,
    include_top: bool,
    pooling: Pooling,
    height: i64,
    width: i64,
) -> Vec<LayerSpec> {
    let mut net = Net {
        table: Table::new(height, width),
        flavor,
    };
    net.table.add(
        "conv1_pad",
        ZeroPadding2d {
            padding: [3, 3, 3, 3],
        },
    );
    net.conv("conv1", 64, Window::new(7, 2, Padding::Valid), None);
    net.batch_norm("conv1", None);
    net.relu("conv1_relu");
    net.table.add(
        "pool1_pad",
        ZeroPadding2d {
            padding: [1, 1, 1, 1],
        },
    );
    net.table.add(
        "pool1_pool",
        MaxPooling2d {
            pool_size: 3,
            strides: 2,
            padding: Padding::Valid,
        },
    );
    for (stage, (filters, blocks)) in (2..).zip(STAGES) {
        let stride = if stage == 2 { 1 } else { 2 };
        for block in 1..=blocks {
            let name = format!("conv{stage}_block{block}");
            net.block(&name, filters, if block == 1 { Some(stride) } else { None });
        }
    }
    let top = include_top.then_some(Top {
        pool: "avg_pool",
        pool_kind: GlobalAveragePooling2d {}.into(),
        dense: &[PREDICTIONS],
    });
    net.table.finish(top, pooling, ["avg_pool", "max_pool"])
}

/// The table being written, and whose definition it follows.
struct Net {
    table: Table,
    flavor: Flavor,
}

impl Net {
    /// `{name}_conv`: a convolution of the output of `input` (the last layer's if `None`).
    fn conv(&mut self, name: &str, filters: i64, window: Window, input: Option<&str>) {
        let input = input.map_or_else(|| self.table.last(), str::to_string);
        let window = match self.flavor {
            Flavor::Keras => window,
            Flavor::Torchvision => window.without_bias(),
        };
        let kind = Conv2d {
            in_channels: self.table.shape_of(&input)[0],
            filters,
            activation: Activation::Linear,
            window,
        };
        self.table.add_from(format!("{name}_conv"), kind, &[&input]);
    }

    /// `{name}_bn` on the output of `input` (the last layer's if `None`).
    fn batch_norm(&mut self, name: &str, input: Option<&str>) {
        let input = input.map_or_else(|| self.table.last(), str::to_string);
        let epsilon = match self.flavor {
            Flavor::Keras => KERAS_EPSILON,
            Flavor::Torchvision => TORCH_EPSILON,
        };
        let kind = BatchNormalization {
            channels: self.table.shape_of(&input)[0],
            epsilon,
            momentum: 0.99,
        };
        self.table.add_from(format!("{name}_bn"), kind, &[&input]);
    }

    fn relu(&mut self, name: &str) {
        let kind = ActivationLayer {
            activation: Activation::Relu,
        };
        self.table.add(name, kind);
    }

    /// A bottleneck block named `name` on the last layer's output; `shortcut_stride` is the
    /// stride of a block with a convolution on its shortcut, `None` for an identity shortcut.
    fn block(&mut self, name: &str, filters: i64, shortcut_stride: Option<i64>) {
        let input = self.table.last();
        let stride = shortcut_stride.unwrap_or(1);
        let (first, second) = match self.flavor {
            Flavor::Keras => (
                Window::new(1, stride, Padding::Valid),
                Window::new(3, 1, Padding::Same),
            ),
            Flavor::Torchvision => (
                Window::new(1, 1, Padding::Valid),
                Window::new(3, stride, Padding::Symmetric(1)),
            ),
        };
        let one = Window::new(1, 1, Padding::Valid);
        self.conv(&format!("{name}_1"), filters, first, None);
        self.batch_norm(&format!("{name}_1"), None);
        self.relu(&format!("{name}_1_relu"));
        self.conv(&format!("{name}_2"), filters, second, None);
        self.batch_norm(&format!("{name}_2"), None);
        self.relu(&format!("{name}_2_relu"));
        let shortcut = match shortcut_stride {
            // Keras's order: both convolutions, then both batch normalisations.
            Some(stride) => {
                let window = Window::new(1, stride, Padding::Valid);
                self.conv(&format!("{name}_0"), 4 * filters, window, Some(&input));
                let relu = format!("{name}_2_relu");
                self.conv(&format!("{name}_3"), 4 * filters, one, Some(&relu));
                self.batch_norm(&format!("{name}_0"), Some(&format!("{name}_0_conv")));
                self.batch_norm(&format!("{name}_3"), Some(&format!("{name}_3_conv")));
                format!("{name}_0_bn")
            }
            None => {
                self.conv(&format!("{name}_3"), 4 * filters, one, None);
                self.batch_norm(&format!("{name}_3"), None);
                input
            }
        };
        let residual = format!("{name}_3_bn");
        self.table
            .add_from(format!("{name}_add"), Add {}, &[&shortcut, &residual]);
        self.relu(&format!("{name}_out"));
    }
}
