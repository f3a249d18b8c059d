//! The VGG16 subcommands as outside tools use them, checked against an independent Keras-style
//! VGG16 written with PyTorch's functional ops on the same `.h5` (Pillow's NEAREST resize,
//! caffe preprocessing, HWIO kernels, NHWC flattening before fc1).

mod cli;
#[path = "../../catsdogs/tests/common/mod.rs"]
mod common;
#[path = "../../catsdogs/tests/weights_files/mod.rs"]
mod weights_files;

use cli::{catsdogs, ok, refused};
use weights_files::write_keras_h5;

/// Keras's VGG16 on images, independently: prints decode_predictions(top=3) of each image as
/// JSON lists, and saves block5_pool in NHWC to argument 3.
const KERAS_VGG16: &str = r#"
import json, sys
import h5py, numpy as np, torch
import torch.nn.functional as F
from PIL import Image
h5, class_index, block5, *imgs = sys.argv[1:]
index = json.load(open(class_index))
def load_img(path):
    x = np.asarray(Image.open(path).convert("RGB").resize((224, 224), Image.NEAREST))
    return x.astype(np.float32)[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
x = torch.from_numpy(np.stack([load_img(p) for p in imgs]).copy()).permute(0, 3, 1, 2)
with h5py.File(h5, "r") as f:
    def weights(name):
        g = f[name]
        return [torch.from_numpy(np.array(g[n.decode()])) for n in g.attrs["weight_names"]]
    for name in [n.decode() for n in f.attrs["layer_names"]]:
        if "_conv" in name:
            kernel, bias = weights(name)
            x = F.relu(F.conv2d(x, kernel.permute(3, 2, 0, 1), bias, padding=1))
        elif name.endswith("_pool"):
            x = F.max_pool2d(x, 2)
            if name == "block5_pool":
                np.save(block5, x.permute(0, 2, 3, 1).numpy())
        elif name == "flatten":
            x = x.permute(0, 2, 3, 1).reshape(len(imgs), -1)
        elif name in ("fc1", "fc2"):
            kernel, bias = weights(name)
            x = F.relu(x @ kernel + bias)
        elif name == "predictions":
            kernel, bias = weights(name)
            x = F.softmax(x @ kernel + bias, dim=1)
for pred in x.numpy():
    top = pred.argsort()[-3:][::-1]
    print(json.dumps([[int(i)] + index[str(i)] + [float(pred[i])] for i in top]))
"#;

#[test]
fn predict_features_and_convert_match_keras() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (h5, st) = (path("top.h5"), path("top.safetensors"));
    write_keras_h5(serde_json::json!({
        "path": h5, "top": true, "values": "random", "seed": 4, "scale": 0.8
    }));
    common::run_python(
        r#"
import sys, numpy as np
from PIL import Image
rng = np.random.default_rng(0)
Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(sys.argv[1], quality=90)
y, x = np.mgrid[0:224, 0:224]
a = np.stack([(x + y) % 256, (x * 3) % 256, (y * 2) % 256], -1).astype(np.uint8)
Image.fromarray(a).save(sys.argv[2])
"#,
        &[&path("a.jpg"), &path("b.png")],
    );
    std::fs::write(path("index.json"), catsdogs::imagenet::CLASS_INDEX_JSON).unwrap();
    let expected = common::run_python(
        KERAS_VGG16,
        &[
            &h5,
            &path("index.json"),
            &path("keras_block5.npy"),
            &path("a.jpg"),
            &path("b.png"),
        ],
    );

    // --model refuses another network's file (environment/fetch-weights checks MobileNetV2's
    // files this way, for which Keras publishes no hash), and converts the right one.
    let other = path("other.safetensors");
    let refused_sentence = refused(&catsdogs(&[
        "convert-weights",
        &h5,
        &other,
        "--model",
        "mobilenet_v2",
    ]));
    assert!(
        refused_sentence.contains(&h5) && refused_sentence.contains("VGG16's weights"),
        "{refused_sentence}"
    );
    assert!(!std::path::Path::new(&other).exists());
    let converted = ok(&catsdogs(&[
        "convert-weights",
        &h5,
        &st,
        "--model",
        "vgg16",
    ]));
    assert!(
        converted.starts_with(&format!(
            "Converted {h5} (KerasH5, with the top, preprocessing Vgg16; read in "
        )),
        "{converted}"
    );
    assert!(
        converted.ends_with(&format!(" s) to {st}\n")),
        "{converted}"
    );

    let json = ok(&catsdogs(&[
        "predict-imagenet",
        "--weights",
        &st,
        &path("a.jpg"),
        &path("b.png"),
        "--top",
        "3",
        "--json",
    ]));
    let parse = |text: &str| -> Vec<Vec<(usize, String, String, f64)>> {
        text.lines()
            .map(|line| {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|p| match p {
                        serde_json::Value::Array(v) => (
                            v[0].as_u64().unwrap() as usize,
                            v[1].as_str().unwrap().to_string(),
                            v[2].as_str().unwrap().to_string(),
                            v[3].as_f64().unwrap(),
                        ),
                        object => (
                            object["index"].as_u64().unwrap() as usize,
                            object["wnid"].as_str().unwrap().to_string(),
                            object["name"].as_str().unwrap().to_string(),
                            object["prob"].as_f64().unwrap(),
                        ),
                    })
                    .collect()
            })
            .collect()
    };
    let (found, expected) = (parse(&json), parse(&expected));
    assert_eq!(found.len(), 2);
    for (f, e) in found.iter().flatten().zip(expected.iter().flatten()) {
        assert_eq!((f.0, &f.1, &f.2), (e.0, &e.1, &e.2));
        assert!((f.3 - e.3).abs() < 1e-4, "{f:?} vs {e:?}");
    }

    let text = ok(&catsdogs(&[
        "predict-imagenet",
        "--weights",
        &st,
        &path("b.png"),
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], path("b.png"));
    assert!(lines[1].starts_with("Predicted: [('n"), "{}", lines[1]);
    assert_eq!(lines[1].matches("), (").count(), 4);
    assert!(lines[1].starts_with(&format!("Predicted: [('{}', ", found[1][0].1)));

    ok(&catsdogs(&[
        "features",
        "--weights",
        &h5,
        "--layer",
        "block5_pool",
        &path("a.jpg"),
        &path("b.png"),
        "--npy",
        &path("block5.npy"),
    ]));
    let compare = common::run_python(
        "import sys, numpy as np\na, b = np.load(sys.argv[1]), np.load(sys.argv[2])\n\
         print(a.shape, a.dtype, float(np.abs(a - b).max() / np.abs(b).max()))",
        &[&path("block5.npy"), &path("keras_block5.npy")],
    );
    let (shape, error) = compare.trim().rsplit_once(' ').unwrap();
    assert_eq!(shape, "(2, 7, 7, 512) float32");
    assert!(error.parse::<f64>().unwrap() < 1e-5, "{compare}");

    let out = catsdogs(&[
        "predict-imagenet",
        "--weights",
        &path("b.png"),
        &path("b.png"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "error: {} is not a weights file that catsdogs reads: expected Keras .h5 (HDF5), \
             torchvision .pth (torch.save) or safetensors\n",
            path("b.png")
        )
    );
}
