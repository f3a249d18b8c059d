//! VGG16 and VGG19 as Keras builds them (`keras.applications.VGG16`, `VGG19`): five blocks of
//! 3x3 'same' convolutions with ReLU, each closed by a 2x2 max pooling, named `block1_conv1`
//! ... `block5_pool`; with the top, `flatten`, `fc1`, `fc2` and `predictions`. The two differ
//! only in how many convolutions blocks 3 to 5 have: a table of channels each.
//!
//! ```
//! use catsdogs::applications::{vgg, Pooling};
//! let vgg19 = vgg::layers(&vgg::VGG19_BLOCKS, false, Pooling::None, 224, 224);
//! assert_eq!(vgg19.len(), 21);
//! assert_eq!(vgg19[19].name, "block5_conv4");
//! ```

use super::table::{Table, Top, GLOBAL_POOLS, PREDICTIONS};
use super::Pooling;
use crate::model::{Activation, Conv2d, Flatten, LayerSpec, MaxPooling2d};

/// VGG16's blocks: the filters of each block's convolutions, and how many it has.
pub const VGG16_BLOCKS: [(i64, usize); 5] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)];
/// VGG19's blocks: one more convolution in each of blocks 3, 4 and 5.
pub const VGG19_BLOCKS: [(i64, usize); 5] = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)];

/// The layers of a VGG of `blocks` in Keras's order, for input images of `height` x `width`
/// (which only the top's `fc1` depends on), with the top or else the `pooling` asked for.
pub fn layers(
    blocks: &[(i64, usize)],
    include_top: bool,
    pooling: Pooling,
    height: i64,
    width: i64,
) -> Vec<LayerSpec> {
    let mut table = Table::new(height, width);
    let mut in_channels = 3;
    for (block, (filters, convs)) in blocks.iter().enumerate() {
        for conv in 1..=*convs {
            let kind = Conv2d::vgg(in_channels, *filters, Activation::Relu);
            table.add(format!("block{}_conv{conv}", block + 1), kind);
            in_channels = *filters;
        }
        table.add(format!("block{}_pool", block + 1), MaxPooling2d::vgg());
    }
    let top = include_top.then_some(Top {
        pool: "flatten",
        pool_kind: Flatten {}.into(),
        dense: &[
            ("fc1", 4096, Activation::Relu),
            ("fc2", 4096, Activation::Relu),
            PREDICTIONS,
        ],
    });
    table.finish(top, pooling, GLOBAL_POOLS)
}
