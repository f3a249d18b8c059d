//! The other networks against Keras itself: Keras builds VGG19, ResNet50 and MobileNetV2 with
//! `weights=None` (seeded, and with random biases and batch statistics so that each lands where
//! it belongs), saves them with its own writer of the Keras 2 `.h5` layout
//! (`layer_names`, `conv1_conv/kernel`, ...), and runs them on small random images of odd and
//! even sizes. The same files load here, and our forward passes must agree with Keras's at
//! several layers, with `pooling='avg'` and `'max'` and, for ResNet50 and MobileNetV2, with the
//! top at 224x224, within 1e-4 of the layer's largest magnitude; `preprocess_input` ("caffe"
//! and MobileNetV2's "tf") and `decode_predictions` exactly.
//!
//! Keras runs once per machine: the references are kept in `$CATSDOGS_CACHE/test-references`
//! (about 200 MB) and made again only when the script changes. The Python is
//! `$CATSDOGS_KERAS_PYTHON` if set, else the bench's venv (`environment/bench` installs Keras
//! there with TensorFlow), else the project's venv; without TensorFlow, Keras runs on its torch
//! backend.

mod common;

use common::References;

use std::path::PathBuf;
use std::sync::OnceLock;

use catsdogs::applications::{Backbone, Pooling};
use catsdogs::data::preprocess_batch;
use catsdogs::imagenet::{decode_predictions, CLASS_INDEX_JSON};
use catsdogs::weights::{Format, Weights};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

/// Makes the references in the folder given as the first argument; the second is the class
/// index that `decode_predictions` reads (Keras would download it).
const KERAS_REFERENCES: &str = r#"
import json, os, sys, tempfile
out, class_index = sys.argv[1], sys.argv[2]
home = tempfile.mkdtemp()
os.makedirs(os.path.join(home, "models"))
with open(os.path.join(home, "models", "imagenet_class_index.json"), "w") as f:
    f.write(class_index)
os.environ["KERAS_HOME"] = home
try:
    import tensorflow  # noqa: F401  Keras's own backend when it is installed
except ImportError:
    os.environ["KERAS_BACKEND"] = "torch"
import h5py, numpy as np, keras
from keras.src.legacy.saving import legacy_h5_format

CASES = {
    "vgg19": (keras.applications.vgg19, "VGG19", False, (40, 56),
              ["block1_conv2", "block3_conv4", "block4_pool", "block5_conv4", "block5_pool"]),
    "resnet50": (keras.applications.resnet50, "ResNet50", True, (70, 90),
                 ["conv1_relu", "pool1_pool", "conv2_block1_out", "conv3_block4_out",
                  "conv4_block6_out", "conv5_block3_out"]),
    "mobilenet_v2": (keras.applications.mobilenet_v2, "MobileNetV2", True, (65, 90),
                     ["Conv1_relu", "expanded_conv_project_BN", "block_2_add", "block_6_depthwise_relu",
                      "block_13_depthwise_relu", "block_16_project_BN", "out_relu"]),
}
rng = np.random.default_rng(15)
keras.utils.set_random_seed(15)
report = {"keras": keras.__version__, "backend": keras.backend.backend()}

def randomise(model):
    # Keras's initialisers leave biases and batch statistics trivial (0 and 1): random ones
    # check that each lands where it belongs.
    for layer in model.layers:
        values = []
        for w in layer.weights:
            v = keras.ops.convert_to_numpy(w)
            kind = w.path.split("/")[-1]
            if kind in ("bias", "beta", "moving_mean"):
                v = rng.normal(0.0, 0.1, v.shape)
            elif kind in ("gamma", "moving_variance"):
                v = rng.uniform(0.5, 1.5, v.shape)
            values.append(v.astype(np.float32))
        layer.set_weights(values)

def outputs(model, names, x):
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return [keras.ops.convert_to_numpy(y) for y in probe(x, training=False)]

for case, (module, title, top, size, layers) in CASES.items():
    build = getattr(module, title)
    model = build(weights=None, include_top=top)
    randomise(model)
    with h5py.File(os.path.join(out, case + ".h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    small = build(weights=None, include_top=False, input_shape=size + (3,))
    for layer in small.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    pixels = rng.integers(0, 256, (2,) + size + (3,)).astype(np.uint8)
    np.save(os.path.join(out, case + "-pixels.npy"), pixels)
    x = module.preprocess_input(pixels.astype(np.float32))
    np.save(os.path.join(out, case + "-input.npy"), x)
    for name, y in zip(layers, outputs(small, layers, x)):
        np.save(os.path.join(out, "%s-%s.npy" % (case, name)), y.astype(np.float32))
    for pooling in ("avg", "max"):
        pooled = build(weights=None, include_top=False, input_shape=size + (3,), pooling=pooling)
        for layer in pooled.layers:
            if layer.weights:
                layer.set_weights(model.get_layer(layer.name).get_weights())
        np.save(os.path.join(out, "%s-pooling-%s.npy" % (case, pooling)),
                keras.ops.convert_to_numpy(pooled(x, training=False)).astype(np.float32))
    if top:
        pixels = rng.integers(0, 256, (1, 224, 224, 3)).astype(np.uint8)
        np.save(os.path.join(out, case + "-top-pixels.npy"), pixels)
        probs = keras.ops.convert_to_numpy(
            model(module.preprocess_input(pixels.astype(np.float32)), training=False))
        np.save(os.path.join(out, case + "-predictions.npy"), probs.astype(np.float32))
        decoded = module.decode_predictions(probs, top=5)
        report[case + "-decoded"] = [[[str(c), str(n), float(p)] for c, n, p in row] for row in decoded]
    report[case] = layers
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f)
"#;

/// The Python that runs Keras (see the module's documentation).
fn keras_python() -> PathBuf {
    if let Some(python) = std::env::var_os("CATSDOGS_KERAS_PYTHON") {
        return python.into();
    }
    common::peer_python()
}

/// The references, made once per machine (and waited for by every test of this process).
fn references() -> &'static References {
    static REFERENCES: OnceLock<References> = OnceLock::new();
    REFERENCES.get_or_init(|| References {
        peer: "Keras",
        dir: common::cached_references(
            "keras-parity",
            &keras_python(),
            KERAS_REFERENCES,
            &[CLASS_INDEX_JSON],
        ),
        layout: nhwc,
    })
}

/// NCHW to Keras's NHWC.
fn nhwc(t: &Tensor) -> Tensor {
    if t.dim() == 4 {
        t.permute([0, 2, 3, 1])
    } else {
        t.shallow_clone()
    }
}

/// Checks one network: its file, preprocessing, layers, poolings and, with `top`, predictions
/// and their decoding.
fn matches_keras(case: &str, backbone: Backbone, top: bool) {
    let references = references();
    let weights = Weights::load(references.dir.join(format!("{case}.h5"))).unwrap();
    assert_eq!(weights.backbone(), backbone);
    assert_eq!(weights.format(), Format::KerasH5);
    assert_eq!(weights.has_top(), top);
    assert_eq!(weights.preprocess(), backbone.preprocess());

    let pixels = references.npy(&format!("{case}-pixels"));
    let x = preprocess_batch(&pixels, weights.preprocess());
    let keras_x = references.npy(&format!("{case}-input"));
    assert_eq!(nhwc(&x), keras_x, "{case}: preprocess_input as Keras's");
    let size = pixels.size();
    let base = backbone
        .application(false)
        .input_size(size[1], size[2])
        .from_weights(&weights, CPU)
        .unwrap();
    let report = references.report();
    eprintln!("{case}: Keras {} on {}", report["keras"], report["backend"]);
    references.assert_layers(case, &base, &x);
    for (pooling, name) in [(Pooling::Avg, "avg"), (Pooling::Max, "max")] {
        let pooled = backbone
            .application(false)
            .input_size(size[1], size[2])
            .pooling(pooling)
            .from_weights(&weights, CPU)
            .unwrap();
        let ours = pooled.forward(&x).unwrap();
        let what = format!("{case} pooling={name}");
        let keras = references.npy(&format!("{case}-pooling-{name}"));
        references.assert_close(&what, &ours, &keras);
    }
    if !top {
        return;
    }
    let network = backbone
        .application(true)
        .from_weights(&weights, CPU)
        .unwrap();
    let (ours, keras) = references.assert_predictions(case, &network);
    // decode_predictions on Keras's own numbers gives exactly Keras's answer, and on ours the
    // same classes.
    let decoded = |probs: &Tensor| -> Vec<Vec<(String, String, f32)>> {
        decode_predictions(probs, 5)
            .unwrap()
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|p| (p.wnid, p.name, p.probability))
                    .collect()
            })
            .collect()
    };
    let keras_decoded: Vec<Vec<(String, String, f32)>> =
        serde_json::from_value(report[format!("{case}-decoded")].clone()).unwrap();
    assert_eq!(decoded(&keras), keras_decoded, "{case}: decode_predictions");
    let classes = |rows: Vec<Vec<(String, String, f32)>>| -> Vec<String> {
        rows[0]
            .iter()
            .take(2)
            .map(|(wnid, _, _)| wnid.clone())
            .collect()
    };
    assert_eq!(
        classes(decoded(&ours)),
        classes(keras_decoded),
        "{case}: top classes"
    );
    assert_eq!(ours.kind(), Kind::Float);
}

#[test]
fn vgg19_matches_keras() {
    matches_keras("vgg19", Backbone::Vgg19, false);
}

#[test]
fn resnet50_matches_keras() {
    matches_keras("resnet50", Backbone::ResNet50, true);
}

#[test]
fn mobilenet_v2_matches_keras() {
    matches_keras("mobilenet_v2", Backbone::MobileNetV2, true);
}
