//! torchvision state dicts (`torch.save`, zip and legacy formats): the same numbers as a Keras
//! file, transposed and renamed the torchvision way, must load to exactly the same weights.

mod common;
mod weights_files;

use catsdogs::weights::{Format, Preprocess, Weights};
use weights_files::{write_keras_h5, write_torchvision};

fn assert_same_weights(a: &Weights, b: &Weights) {
    assert!(a.names().eq(b.names()));
    for name in a.names() {
        assert_eq!(a.get(name), b.get(name), "{name}");
    }
}

#[test]
fn torchvision_files_load_to_the_keras_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_keras_h5(serde_json::json!({"path": path("notop.h5"), "values": "random", "seed": 2}));
    let keras = Weights::load(path("notop.h5")).unwrap();
    for (format, wrap) in [("zip", false), ("legacy", false), ("zip", true)] {
        let pth = path(&format!("vgg16-{format}-{wrap}.pth"));
        write_torchvision(&path("notop.h5"), &pth, format, wrap);
        let torch = Weights::load(&pth).unwrap();
        assert_eq!(torch.format(), Format::TorchSave);
        assert_eq!(torch.preprocess(), Preprocess::Torch);
        assert!(!torch.has_top());
        assert_same_weights(&keras, &torch);
    }
    // Converted to safetensors, the weights keep torchvision's preprocessing.
    let torch = Weights::load(path("vgg16-zip-false.pth")).unwrap();
    torch.save(path("torch.safetensors")).unwrap();
    let converted = Weights::load(path("torch.safetensors")).unwrap();
    assert_eq!(converted.preprocess(), Preprocess::Torch);
    assert_same_weights(&keras, &converted);
}

#[test]
fn a_wrong_torchvision_tensor_names_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let pth = dir.path().join("bad.pth");
    let pth = pth.to_str().unwrap();
    common::run_python(
        r#"
import sys, torch
torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64),
            "features.2.weight": torch.zeros(64, 64, 1, 1)}, sys.argv[1])
"#,
        &[pth],
    );
    assert_eq!(
        Weights::load(pth).unwrap_err().to_string(),
        format!(
            "{pth}: VGG16 layer block1_conv2 needs kernel (features.2.weight in the file) of \
             shape (64, 64, 3, 3) but the file has shape (64, 64, 1, 1)"
        )
    );
    common::run_python(
        "import sys, torch\ntorch.save({'classifier.0.weight': torch.zeros(2)}, sys.argv[1])",
        &[pth],
    );
    assert_eq!(
        Weights::load(pth).unwrap_err().to_string(),
        format!(
            "{pth} has no weights for VGG16 layer block1_conv1 (features.0.weight (64, 3, 3, 3) \
             and features.0.bias (64,)); is it VGG16's weights?"
        )
    );
    common::run_python(
        "import sys, torch\ntorch.save([1, 2, 3], sys.argv[1])",
        &[pth],
    );
    assert_eq!(
        Weights::load(pth).unwrap_err().to_string(),
        format!(
            "cannot read {pth} as a torch.save file: it holds no dict of tensors (a state_dict)"
        )
    );
}
