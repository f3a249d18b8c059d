//! Full-size VGG16 with its top (138,357,544 random weights): the Keras `.h5`, the torchvision
//! `.pth` of the same numbers and the safetensors conversion load to identical weights, and the
//! top (whose fc1 rows Keras orders by NHWC flattening) matches NumPy computing Keras's top from
//! the same block5_pool features. One test, so the 0.5 GB files are written once.

mod common;
mod weights_files;

use std::time::Instant;

use catsdogs::applications::Backbone;
use catsdogs::weights::{Format, Weights};
use tch::{Device, Kind, Tensor};
use weights_files::{write_keras_h5, write_torchvision};

/// Keras's top on features saved NCHW by our model: NHWC flattening, then fc1, fc2,
/// predictions with the `.h5`'s kernels as they are.
const KERAS_TOP: &str = r#"
import sys
import h5py, numpy as np
h5, features, out = sys.argv[1:4]
x = np.load(features)
x = x.transpose(0, 2, 3, 1).reshape(len(x), -1)
with h5py.File(h5, "r") as f:
    def dense(x, name):
        g = f[name]
        kernel, bias = [np.array(g[n.decode()]) for n in g.attrs["weight_names"]]
        return x @ kernel + bias
    x = np.maximum(dense(x, "fc1"), 0)
    x = np.maximum(dense(x, "fc2"), 0)
    z = dense(x, "predictions").astype(np.float64)
z = np.exp(z - z.max(axis=1, keepdims=True))
np.save(out, (z / z.sum(axis=1, keepdims=True)).astype(np.float32))
"#;

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    eprintln!("{what}: {:.2} s", start.elapsed().as_secs_f64());
    value
}

#[test]
fn full_size_top_model_from_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (h5, pth, st) = (path("top.h5"), path("top.pth"), path("top.safetensors"));
    write_keras_h5(serde_json::json!({"path": h5, "top": true, "values": "random", "seed": 3}));
    write_torchvision(&h5, &pth, "zip", false);

    let keras = timed("load .h5 (debug build)", || Weights::load(&h5).unwrap());
    assert!(keras.has_top());
    assert_eq!(keras.get("fc1/kernel").unwrap().size(), [25088, 4096]);
    keras.save(&st).unwrap();
    let torch = timed("load .pth (debug build)", || Weights::load(&pth).unwrap());
    let converted = timed("load .safetensors (debug build)", || {
        Weights::load(&st).unwrap()
    });
    assert_eq!(converted.format(), Format::Safetensors);
    assert_eq!(keras.names().count(), 32);
    for name in keras.names() {
        assert_eq!(keras.get(name), torch.get(name), "{name}");
        assert_eq!(keras.get(name), converted.get(name), "{name}");
    }
    drop((torch, converted));

    let model = Backbone::Vgg16
        .application(true)
        .from_weights(&keras, Device::Cpu)
        .unwrap();
    assert_eq!(model.count_params(), 138_357_544);
    tch::manual_seed(0);
    let x = Tensor::randn([2, 3, 224, 224], (Kind::Float, Device::Cpu)) * 50.0;
    let features = model.forward_to(&x, "block5_pool").unwrap();
    let probs = model.forward_from(&features, "flatten").unwrap();
    assert_eq!(probs, model.forward(&x).unwrap());
    features.write_npy(path("features.npy")).unwrap();
    common::run_python(KERAS_TOP, &[&h5, &path("features.npy"), &path("keras.npy")]);
    let keras_probs = Tensor::read_npy(path("keras.npy")).unwrap();
    assert_eq!(keras_probs.size(), [2, 1000]);
    let error = (&probs - &keras_probs).abs().max().double_value(&[]);
    let spread = keras_probs.max().double_value(&[]);
    assert!(spread > 0.01, "probabilities are not degenerate: {spread}");
    assert!(error < 1e-5, "top differs from Keras's by {error}");
}
