//! Which network a weights file holds, told from the tensors in it (never from the file's
//! name, except a MobileNetV2 file's image size, which only its name records): a file of
//! another network, of a deeper ResNet or of another MobileNetV2 width is refused with one
//! sentence naming what it holds.

use std::path::Path;

use super::layout::Layout;
use super::Contents;
use crate::applications::mobilenet_v2::LAST_BLOCK_FILTERS;
use crate::applications::{Backbone, Flavor};
use crate::error::{Error, Result};

/// A layer only one network has, by its Keras name and by torchvision's tensor name.
const MARKERS: [(Backbone, &str, &str); 3] = [
    (Backbone::ResNet50, "conv1_conv", "layer1.0.conv1.weight"),
    (Backbone::MobileNetV2, "Conv1", "features.1.conv.0.0.weight"),
    (Backbone::Vgg19, "block5_conv4", "features.34.weight"),
];

/// The name of a layer's first weight in `contents` (see [`Contents`]'s keys).
fn first_weight(layout: Layout, layer: &str, weight: &str) -> String {
    match layout {
        Layout::Keras => format!("{layer}/0"),
        Layout::Own | Layout::Torchvision => format!("{layer}/{weight}"),
    }
}

/// The network of a file's `contents`: by the marker layers, VGG16 when none is there (so that
/// a file of no known network is read as VGG16's and says which layer it lacks).
pub(super) fn backbone(contents: &Contents) -> Backbone {
    MARKERS
        .iter()
        .find(|(_, keras, torch)| match contents.layout {
            Layout::Torchvision => contents.tensors.contains_key(*torch),
            layout => contents
                .tensors
                .contains_key(&first_weight(layout, keras, "kernel")),
        })
        .map_or(Backbone::Vgg16, |(backbone, _, _)| *backbone)
}

/// The flavor of a file of `layout`.
pub(super) fn flavor(layout: Layout) -> Flavor {
    match layout {
        Layout::Torchvision => Flavor::Torchvision,
        Layout::Keras | Layout::Own => Flavor::Keras,
    }
}

/// Refuses a file of a variant that catsdogs does not build: a deeper ResNet (a fourth stage of
/// more than 6 blocks), or a MobileNetV2 of another width (alpha) or image size than 1.0, 224.
pub(super) fn check_variant(contents: &Contents, backbone: Backbone, path: &Path) -> Result<()> {
    let refuse = |holds: String, expected: &str| Error::WrongNetwork {
        path: path.to_path_buf(),
        holds,
        expected: expected.to_string(),
        what_to_do: format!(
            "give {} (catsdogs builds {} only)",
            backbone.weights_file(false),
            expected.trim_end_matches("'s")
        ),
    };
    let find = |keras: &str, weight: &str, torch: &str| match contents.layout {
        Layout::Torchvision => contents.tensors.get(torch),
        layout => contents.tensors.get(&first_weight(layout, keras, weight)),
    };
    match backbone {
        Backbone::ResNet50 => {
            if find("conv4_block7_1_conv", "kernel", "layer3.6.conv1.weight").is_some() {
                return Err(refuse(
                    "the weights of a deeper ResNet (ResNet101 or ResNet152: its conv4 stage has more than 6 blocks)".into(),
                    "ResNet50's",
                ));
            }
        }
        Backbone::MobileNetV2 => {
            let expected = "MobileNetV2 (alpha 1.0, 224x224)'s";
            let project = find("block_16_project", "kernel", "features.17.conv.2.weight");
            let filters = project.map(|t| {
                let size = t.tensor.size();
                match contents.layout {
                    Layout::Keras => size.last().copied().unwrap_or(0),
                    Layout::Own | Layout::Torchvision => size.first().copied().unwrap_or(0),
                }
            });
            if let Some(filters) = filters.filter(|&f| f != 320) {
                let alpha = LAST_BLOCK_FILTERS
                    .iter()
                    .find(|(_, f)| *f == filters)
                    .map_or_else(
                        || "another alpha".to_string(),
                        |(a, _)| format!("alpha {a}"),
                    );
                return Err(refuse(
                    format!("MobileNetV2's weights for {alpha} (block_16_project gives {filters} channels, not 320)"),
                    expected,
                ));
            }
            if let Some(size) = named_size(path).filter(|&size| size != 224) {
                return Err(refuse(
                    format!("MobileNetV2's weights for {size}x{size} images, as its name says"),
                    expected,
                ));
            }
        }
        Backbone::Vgg16 | Backbone::Vgg19 => {}
    }
    Ok(())
}

/// The image size in the name of one of Keras's MobileNetV2 files
/// (`mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5` is for 160x160).
fn named_size(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_")?;
    let mut parts = rest.split(['_', '.']);
    // alpha as "1.0": its two parts, then the size.
    let _ = (parts.next()?, parts.next()?);
    parts.next()?.parse().ok()
}

/// Refuses weights of `holds` where `expected` is asked for, saying what to give or ask for:
/// under the command line, the network asked for with the flag `flag` (`--model`, or
/// `--backbone` for `train`).
pub(super) fn expect(path: &Path, holds: Backbone, expected: Backbone, flag: &str) -> Result<()> {
    if holds == expected {
        return Ok(());
    }
    Err(Error::WrongNetwork {
        path: path.to_path_buf(),
        holds: format!("{}'s weights", holds.title()),
        expected: format!("{}'s", expected.title()),
        what_to_do: format!(
            "give {}'s file ({}.h5), or use the network it holds ({flag} {}, or Backbone::{:?})",
            expected.title(),
            expected.weights_file(false),
            holds.name(),
            holds
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobilenet_names_tell_the_size() {
        let size = |name: &str| named_size(Path::new(name));
        assert_eq!(
            size("w/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"),
            Some(160)
        );
        assert_eq!(
            size("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5"),
            Some(96)
        );
        assert_eq!(size("mobilenet.h5"), None);
    }
}
