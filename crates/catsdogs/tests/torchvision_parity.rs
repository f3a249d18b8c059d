//! torchvision's `resnet50` and `mobilenet_v2` against torchvision itself: random state dicts
//! (seeded, with random batch statistics) saved with `torch.save`, loaded here in the
//! torchvision flavor, and our forward passes compared with torchvision's at the end of each
//! stage and at the softmax of its logits, within 1e-4 of the layer's largest magnitude.
//! torchvision's modules map onto Keras's layer names: for ResNet50, `relu` is `conv1_relu`,
//! `maxpool` `pool1_pool` and `layer1` to `layer4` end in `conv2_block3_out` to
//! `conv5_block3_out`; for MobileNetV2, `features.N` ends in the block's last layer.
//!
//! The references are made once per machine and kept, as `keras_parity.rs`'s are (about
//! 120 MB), with the bench's venv if there is one (it has torchvision), else the project's.

mod common;

use common::References;

use std::sync::OnceLock;

use catsdogs::applications::{Backbone, Flavor};
use catsdogs::data::{preprocess_batch, Preprocess};
use catsdogs::weights::{Format, Weights};
use tch::{Device, Tensor};

const CPU: Device = Device::Cpu;

/// Makes the references in the folder given as the first argument.
const TORCHVISION_REFERENCES: &str = r#"
import json, os, sys
import numpy as np, torch, torchvision
out = sys.argv[1]
torch.manual_seed(15)
CASES = {
    "resnet50": (torchvision.models.resnet50, (70, 90), [
        ("relu", "conv1_relu"), ("maxpool", "pool1_pool"), ("layer1", "conv2_block3_out"),
        ("layer2", "conv3_block4_out"), ("layer3", "conv4_block6_out"),
        ("layer4", "conv5_block3_out")]),
    "mobilenet_v2": (torchvision.models.mobilenet_v2, (65, 90), [
        ("features.0", "Conv1_relu"), ("features.1", "expanded_conv_project_BN"),
        ("features.3", "block_2_add"), ("features.7", "block_6_project_BN"),
        ("features.14", "block_13_project_BN"), ("features.17", "block_16_project_BN"),
        ("features.18", "out_relu")]),
}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
def preprocess(pixels):
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
    return (x / 255.0 - MEAN) / STD
report = {"torchvision": torchvision.__version__, "torch": torch.__version__}
with torch.no_grad():
    for case, (build, size, layers) in CASES.items():
        model = build(weights=None).eval()
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, torch.nn.Linear):
                m.bias.normal_(0.0, 0.1)
        torch.save(model.state_dict(), os.path.join(out, case + ".pth"))
        modules = dict(model.named_modules())
        seen = {}
        for module, name in layers:
            modules[module].register_forward_hook(
                lambda m, i, o, name=name: seen.setdefault(name, o.clone()))
        rng = np.random.default_rng(15)
        pixels = rng.integers(0, 256, (2,) + size + (3,)).astype(np.uint8)
        np.save(os.path.join(out, case + "-pixels.npy"), pixels)
        model(preprocess(pixels))
        for name, y in seen.items():
            np.save(os.path.join(out, "%s-%s.npy" % (case, name)), y.numpy())
        pixels = rng.integers(0, 256, (1, 224, 224, 3)).astype(np.uint8)
        np.save(os.path.join(out, case + "-top-pixels.npy"), pixels)
        seen.clear()
        probs = torch.softmax(model(preprocess(pixels)), dim=1)
        np.save(os.path.join(out, case + "-predictions.npy"), probs.numpy())
        report[case] = [name for _, name in layers]
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f)
"#;

/// The references, made once per machine.
fn references() -> &'static References {
    static REFERENCES: OnceLock<References> = OnceLock::new();
    REFERENCES.get_or_init(|| References {
        peer: "torchvision",
        dir: common::cached_references(
            "torchvision-parity",
            &common::peer_python(),
            TORCHVISION_REFERENCES,
            &[],
        ),
        layout: Tensor::shallow_clone,
    })
}

fn matches_torchvision(case: &str, backbone: Backbone) {
    let references = references();
    let weights = Weights::load(references.dir.join(format!("{case}.pth"))).unwrap();
    assert_eq!(weights.backbone(), backbone);
    assert_eq!(weights.flavor(), Flavor::Torchvision);
    assert_eq!(weights.format(), Format::TorchSave);
    assert_eq!(weights.preprocess(), Preprocess::Torch);
    assert!(weights.has_top());
    eprintln!("{case}: torchvision {}", references.report()["torchvision"]);

    let pixels = references.npy(&format!("{case}-pixels"));
    let x = preprocess_batch(&pixels, Preprocess::Torch);
    let size = pixels.size();
    let base = backbone
        .application(false)
        .input_size(size[1], size[2])
        .from_weights(&weights, CPU)
        .unwrap();
    references.assert_layers(case, &base, &x);
    let network = backbone
        .application(true)
        .from_weights(&weights, CPU)
        .unwrap();
    let _ = references.assert_predictions(case, &network);
}

#[test]
fn resnet50_matches_torchvision() {
    matches_torchvision("resnet50", Backbone::ResNet50);
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    matches_torchvision("mobilenet_v2", Backbone::MobileNetV2);
}
