//! torchvision's names for the layers of its `vgg16`, `vgg19`, `resnet50` and `mobilenet_v2`:
//! which module of its state dict holds each Keras-named layer, and what a weight is called
//! there (`weight`, `bias`, `running_mean`, `running_var`).

use crate::applications::Backbone;
use crate::model::LayerKind;

/// The position of each VGG layer in torchvision's `features` (conv, ReLU, ..., pool) and
/// `classifier` (Linear, ReLU, Dropout, ...) sequences, counted along the table.
#[derive(Default)]
pub(super) struct VggIndex {
    features: usize,
    classifier: usize,
}

impl VggIndex {
    /// The index of the next layer, of kind `kind`, in its sequence.
    pub(super) fn next(&mut self, kind: &LayerKind) -> usize {
        let (counter, step) = match kind {
            LayerKind::Conv2d(_) => (&mut self.features, 2),
            LayerKind::MaxPooling2d(_) => (&mut self.features, 1),
            LayerKind::Dense(_) => (&mut self.classifier, 3),
            _ => return 0,
        };
        let index = *counter;
        *counter += step;
        index
    }
}

/// A weight's name in torchvision: `weight` for kernels and `gamma`, `bias` for biases and
/// `beta`, `running_mean` and `running_var` for the moving statistics.
fn weight_name(weight: &str) -> &'static str {
    match weight {
        "bias" | "beta" => "bias",
        "moving_mean" => "running_mean",
        "moving_variance" => "running_var",
        _ => "weight",
    }
}

/// The state dict name of `layer`'s `weight` (`vgg_index` is [`VggIndex::next`]'s for VGGs),
/// e.g. `features.0.weight`, `layer2.0.downsample.1.running_var`, `features.3.conv.1.0.weight`.
pub(super) fn name(backbone: Backbone, layer: &str, weight: &str, vgg_index: usize) -> String {
    let module = match backbone {
        Backbone::Vgg16 | Backbone::Vgg19 => {
            let part = if layer.starts_with("block") {
                "features"
            } else {
                "classifier"
            };
            format!("{part}.{vgg_index}")
        }
        Backbone::ResNet50 => resnet50_module(layer),
        Backbone::MobileNetV2 => mobilenet_v2_module(layer),
    };
    format!("{module}.{}", weight_name(weight))
}

/// ResNet50's modules: `conv1`, `bn1`, `layer{s-1}.{b-1}.conv{k}` and `.bn{k}`, the shortcut's
/// `downsample.0` and `.1`, and `fc`.
fn resnet50_module(layer: &str) -> String {
    match layer {
        "conv1_conv" => return "conv1".into(),
        "conv1_bn" => return "bn1".into(),
        "predictions" => return "fc".into(),
        _ => {}
    }
    // conv{s}_block{b}_{k}_{conv|bn}
    let parts: Vec<&str> = layer.split('_').collect();
    let number = |part: &str, prefix: &str| {
        part.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    match parts[..] {
        [stage, block, k, what] => {
            let (Some(stage), Some(block)) = (number(stage, "conv"), number(block, "block")) else {
                return layer.to_string();
            };
            let prefix = format!("layer{}.{}", stage - 1, block - 1);
            match (k, what) {
                ("0", "conv") => format!("{prefix}.downsample.0"),
                ("0", "bn") => format!("{prefix}.downsample.1"),
                (k, "conv") => format!("{prefix}.conv{k}"),
                (k, _) => format!("{prefix}.bn{k}"),
            }
        }
        _ => layer.to_string(),
    }
}

/// MobileNetV2's modules: `features.0.{0,1}` (`Conv1`, `bn_Conv1`), each block's
/// `features.{i+1}.conv.*`, `features.18.{0,1}` (`Conv_1`, `Conv_1_bn`), `classifier.1`.
fn mobilenet_v2_module(layer: &str) -> String {
    match layer {
        "Conv1" => return "features.0.0".into(),
        "bn_Conv1" => return "features.0.1".into(),
        "Conv_1" => return "features.18.0".into(),
        "Conv_1_bn" => return "features.18.1".into(),
        "predictions" => return "classifier.1".into(),
        _ => {}
    }
    let (block, part) = match layer.strip_prefix("expanded_conv_") {
        Some(part) => (0, part),
        None => {
            let rest = layer.strip_prefix("block_").unwrap_or(layer);
            let (block, part) = rest.split_once('_').unwrap_or((rest, ""));
            (block.parse::<usize>().unwrap_or(usize::MAX - 1), part)
        }
    };
    // The first block has no expansion, so its modules come one earlier.
    let module = match (block, part) {
        (0, "depthwise") => "0.0",
        (0, "depthwise_BN") => "0.1",
        (0, "project") => "1",
        (0, "project_BN") => "2",
        (_, "expand") => "0.0",
        (_, "expand_BN") => "0.1",
        (_, "depthwise") => "1.0",
        (_, "depthwise_BN") => "1.1",
        (_, "project") => "2",
        (_, "project_BN") => "3",
        _ => return layer.to_string(),
    };
    format!("features.{}.conv.{module}", block + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_layers_have_torchvision_names() {
        let resnet = |layer, weight| name(Backbone::ResNet50, layer, weight, 0);
        assert_eq!(resnet("conv1_bn", "moving_variance"), "bn1.running_var");
        assert_eq!(
            resnet("conv3_block1_0_conv", "kernel"),
            "layer2.0.downsample.0.weight"
        );
        assert_eq!(resnet("conv5_block3_2_bn", "gamma"), "layer4.2.bn2.weight");
        assert_eq!(resnet("predictions", "bias"), "fc.bias");
        let mobilenet = |layer, weight| name(Backbone::MobileNetV2, layer, weight, 0);
        assert_eq!(
            mobilenet("expanded_conv_project_BN", "beta"),
            "features.1.conv.2.bias"
        );
        assert_eq!(
            mobilenet("block_16_depthwise", "depthwise_kernel"),
            "features.17.conv.1.0.weight"
        );
        assert_eq!(
            mobilenet("Conv_1_bn", "moving_mean"),
            "features.18.1.running_mean"
        );
        assert_eq!(name(Backbone::Vgg19, "fc2", "bias", 3), "classifier.3.bias");
    }
}
