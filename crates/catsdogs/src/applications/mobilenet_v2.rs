//! MobileNetV2 (alpha 1.0) as Keras builds it (`keras.applications.MobileNetV2`): `Conv1`
//! (3x3, stride 2, 'same'), `bn_Conv1`, `Conv1_relu` (ReLU6), then 17 inverted residual blocks
//! (`expanded_conv_*`, `block_1_*` ... `block_16_*`): a 1x1 expansion (`expand`, `expand_BN`,
//! `expand_relu`; not in the first block), a 3x3 depthwise convolution (`depthwise`, `_BN`,
//! `_relu`; stride 2 after an explicit `pad` layer, Keras's `correct_pad`), and a linear 1x1
//! projection (`project`, `project_BN`), added to the block's input (`add`) where the shapes
//! allow. Then `Conv_1` (1x1 to 1280), `Conv_1_bn`, `out_relu`; with the top,
//! `global_average_pooling2d` and `predictions`. Batch normalisation: epsilon 1e-3, momentum
//! 0.999. No convolution has a bias.
//!
//! torchvision's `mobilenet_v2` has the same layers; its flavor here differs where its
//! definition does: every stride-2 convolution is padded 1 on every side (PyTorch's
//! `padding=1`) where Keras pads only the bottom and the right of even-sized maps, and batch
//! normalisation's epsilon is 1e-5. (Its classifier's dropout is inactive at inference.)
//!
//! ```
//! use catsdogs::applications::{mobilenet_v2, Flavor, Pooling};
//! let layers = mobilenet_v2::layers(Flavor::Keras, false, Pooling::None, 224, 224);
//! assert_eq!(layers.len(), 153);
//! assert_eq!(layers[11].name, "block_1_pad");
//! assert_eq!(layers.last().unwrap().name, "out_relu");
//! ```

use super::table::{Table, Top, GLOBAL_POOLS, PREDICTIONS};
use super::{Flavor, Pooling};
use crate::model::{
    Add, BatchNormalization, Conv2d, DepthwiseConv2d, GlobalAveragePooling2d, LayerSpec, Padding,
    Relu, Window, ZeroPadding2d,
};

/// Each block's output channels, stride and expansion factor, in order.
const BLOCKS: [(i64, i64, i64); 17] = [
    (16, 1, 1),
    (24, 2, 6),
    (24, 1, 6),
    (32, 2, 6),
    (32, 1, 6),
    (32, 1, 6),
    (64, 2, 6),
    (64, 1, 6),
    (64, 1, 6),
    (64, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (96, 1, 6),
    (160, 2, 6),
    (160, 1, 6),
    (160, 1, 6),
    (320, 1, 6),
];

/// The channels of the first convolution and of the last.
const FIRST_FILTERS: i64 = 32;
const LAST_FILTERS: i64 = 1280;

/// The channels of the last block's projection for each width multiplier (alpha) that Keras
/// publishes weights for: how a weights file tells its alpha.
pub const LAST_BLOCK_FILTERS: [(f64, i64); 6] = [
    (0.35, 112),
    (0.5, 160),
    (0.75, 240),
    (1.0, 320),
    (1.3, 416),
    (1.4, 448),
];

/// The layers of MobileNetV2 (alpha 1.0) in Keras's order, for input images of `height` x
/// `width` (the stride-2 paddings depend on them), with the top or else the `pooling` asked
/// for, as `flavor` defines the network.
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
    let first = match flavor {
        Flavor::Keras => Window::new(3, 2, Padding::Same),
        Flavor::Torchvision => Window::new(3, 2, Padding::Symmetric(1)),
    };
    net.conv("Conv1", FIRST_FILTERS, first);
    net.batch_norm("bn_Conv1");
    net.relu6("Conv1_relu");
    for (id, (filters, stride, expansion)) in BLOCKS.into_iter().enumerate() {
        net.block(id, filters, stride, expansion);
    }
    net.conv("Conv_1", LAST_FILTERS, Window::new(1, 1, Padding::Same));
    net.batch_norm("Conv_1_bn");
    net.relu6("out_relu");
    let top = include_top.then_some(Top {
        pool: GLOBAL_POOLS[0],
        pool_kind: GlobalAveragePooling2d {}.into(),
        dense: &[PREDICTIONS],
    });
    net.table.finish(top, pooling, GLOBAL_POOLS)
}

/// The table being written, and whose definition it follows.
struct Net {
    table: Table,
    flavor: Flavor,
}

impl Net {
    fn conv(&mut self, name: &str, filters: i64, window: Window) {
        let kind = Conv2d {
            in_channels: self.table.channels(),
            filters,
            activation: crate::model::Activation::Linear,
            window: window.without_bias(),
        };
        self.table.add(name, kind);
    }

    fn batch_norm(&mut self, name: &str) {
        let epsilon = match self.flavor {
            Flavor::Keras => 1e-3,
            Flavor::Torchvision => 1e-5,
        };
        let kind = BatchNormalization {
            channels: self.table.channels(),
            epsilon,
            momentum: 0.999,
        };
        self.table.add(name, kind);
    }

    fn relu6(&mut self, name: &str) {
        self.table.add(
            name,
            Relu {
                max_value: Some(6.0),
            },
        );
    }

    /// The zeros before a stride-2 3x3 depthwise convolution, (top, bottom, left, right):
    /// Keras's `correct_pad` (one more at the bottom and right of an even side) or PyTorch's.
    fn stride_padding(&self) -> [i64; 4] {
        match self.flavor {
            Flavor::Torchvision => [1, 1, 1, 1],
            Flavor::Keras => {
                let shape = self.table.shape_of(&self.table.last());
                let even = |side: i64| i64::from(side % 2 == 0);
                let (h, w) = (even(shape[1]), even(shape[2]));
                [1 - h, 1, 1 - w, 1]
            }
        }
    }

    /// Inverted residual block `id` on the last layer's output.
    fn block(&mut self, id: usize, filters: i64, stride: i64, expansion: i64) {
        let input = self.table.last();
        let in_channels = self.table.channels();
        let prefix = if id == 0 {
            "expanded_conv_".to_string()
        } else {
            format!("block_{id}_")
        };
        if id > 0 {
            let window = Window::new(1, 1, Padding::Same);
            self.conv(&format!("{prefix}expand"), expansion * in_channels, window);
            self.batch_norm(&format!("{prefix}expand_BN"));
            self.relu6(&format!("{prefix}expand_relu"));
        }
        let padding = if stride == 2 {
            let padding = self.stride_padding();
            self.table
                .add(format!("{prefix}pad"), ZeroPadding2d { padding });
            Padding::Valid
        } else {
            Padding::Same
        };
        let depthwise = DepthwiseConv2d {
            channels: self.table.channels(),
            window: Window::new(3, stride, padding).without_bias(),
        };
        self.table.add(format!("{prefix}depthwise"), depthwise);
        self.batch_norm(&format!("{prefix}depthwise_BN"));
        self.relu6(&format!("{prefix}depthwise_relu"));
        self.conv(
            &format!("{prefix}project"),
            filters,
            Window::new(1, 1, Padding::Same),
        );
        self.batch_norm(&format!("{prefix}project_BN"));
        if in_channels == filters && stride == 1 {
            let projected = self.table.last();
            self.table
                .add_from(format!("{prefix}add"), Add {}, &[&input, &projected]);
        }
    }
}
