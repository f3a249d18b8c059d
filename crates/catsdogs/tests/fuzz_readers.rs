//! Property-based fuzzing of every reader of outside bytes: images, Keras `.h5` weights,
//! Keras's whole-model `.h5` and `.keras` files, safetensors files and saved models. Valid files made by the peers' tools are damaged at
//! random (bytes overwritten, the file cut short) and every reader must answer with a value or
//! an error, never a panic or an abort. Bounded by the number of cases, so it runs in seconds.

mod common;
mod weights_files;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use catsdogs::data::decode_rgb;
use catsdogs::model::Model;
use catsdogs::weights::keras_file::{KerasFile, KerasFormat, LayerWeights, Values, Weight};
use catsdogs::weights::Weights;
use proptest::prelude::*;
use tch::{Device, Kind, Tensor};

/// Valid files, made once: small images in each format that Keras reads, a Keras `.h5` of
/// block1, a Keras 2 and a Keras 3 model file, a safetensors file and a saved model.
struct Seeds {
    _dir: tempfile::TempDir,
    images: Vec<Vec<u8>>,
    h5: Vec<u8>,
    models: [Vec<u8>; 2],
    safetensors: Vec<u8>,
    dir: PathBuf,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        let formats = ["JPEG", "PNG", "BMP", "PPM", "TIFF"];
        common::run_python(
            r#"
import sys
import numpy as np
from PIL import Image
folder = sys.argv[1]
y, x = np.mgrid[0:12, 0:16]
pixels = np.stack([x * 15, y * 20, (x + y) * 9], -1).astype(np.uint8)
for fmt in sys.argv[2:]:
    Image.fromarray(pixels).save("%s/image.%s" % (folder, fmt.lower()), fmt)
"#,
            &[&[dir.path().to_str().unwrap()][..], &formats].concat(),
        );
        let images = formats
            .iter()
            .map(|f| std::fs::read(at(&format!("image.{}", f.to_lowercase()))).unwrap())
            .collect();
        let h5 = at("block1.h5");
        weights_files::write_keras_h5(serde_json::json!({
            "path": h5.to_str().unwrap(), "values": "formula", "last": "block1_pool",
        }));
        let tensors = vec![
            ("a".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0])),
            (
                "b".to_string(),
                Tensor::ones([2, 3], (Kind::Float, Device::Cpu)),
            ),
        ];
        let st = at("t.safetensors");
        catsdogs::tensor_file::write(&st, &tensors, HashMap::new()).unwrap();
        Seeds {
            images,
            h5: std::fs::read(&h5).unwrap(),
            models: [KerasFormat::Keras2H5, KerasFormat::Keras3Zip].map(|format| {
                let path = at("model");
                keras_model(format).write(&path).unwrap();
                std::fs::read(&path).unwrap()
            }),
            safetensors: std::fs::read(&st).unwrap(),
            dir: dir.path().to_path_buf(),
            _dir: dir,
        }
    })
}

/// A small Keras model file: a Sequential of a convolution and a dense layer, trained (an
/// optimizer's iteration count and slots).
fn keras_model(format: KerasFormat) -> KerasFile {
    let weight = |name: &str, shape: Vec<usize>| Weight {
        name: name.into(),
        values: Values::F32(
            (0..shape.iter().product::<usize>())
                .map(|i| i as f32)
                .collect(),
        ),
        shape,
    };
    let layer = |name: &str, class: &str| serde_json::json!({"class_name": class, "config": {"name": name}});
    KerasFile {
        format,
        keras_version: Some("3.15.1".into()),
        backend: None,
        model_config: serde_json::json!({"class_name": "Sequential", "config": {
            "name": "sequential", "layers": [layer("conv", "Conv2D"), layer("dense", "Dense")]},
            "compile_config": {"optimizer": {"config": {"name": "adam"}}}}),
        training_config: None,
        metadata: Some(serde_json::json!({"keras_version": "3.15.1"})),
        layers: vec![
            LayerWeights {
                path: vec!["conv".into()],
                weights: vec![
                    weight("conv/kernel:0", vec![3, 3, 3, 4]),
                    weight("conv/bias:0", vec![4]),
                ],
            },
            LayerWeights {
                path: vec!["dense".into()],
                weights: vec![
                    weight("dense/kernel:0", vec![4, 2]),
                    weight("dense/bias:0", vec![2]),
                ],
            },
        ],
        optimizer: vec![
            Weight {
                name: "iteration:0".into(),
                shape: vec![],
                values: Values::I64(vec![3]),
            },
            weight("Adam/m/dense/bias:0", vec![2]),
        ],
    }
}

/// A damage: bytes overwritten at positions (taken modulo the length), then a cut.
fn damage() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        proptest::option::of(any::<usize>()),
    )
}

fn damaged(bytes: &[u8], (writes, cut): &(Vec<(usize, u8)>, Option<usize>)) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for &(at, value) in writes {
        let len = bytes.len();
        bytes[at % len] = value;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

/// A file of its own for each case (cases run one after another, threads of other tests beside).
fn case_file(name: &str, bytes: &[u8]) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = seeds().dir.join(format!("{n}-{name}"));
    std::fs::write(&path, bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn damaged_images_decode_or_say_why(format in 0usize..5, damage in damage()) {
        let bytes = damaged(&seeds().images[format], &damage);
        let _ = decode_rgb(&bytes, Path::new("fuzz.img"));
    }

    #[test]
    fn damaged_h5_weights_load_or_say_why(damage in damage()) {
        let path = case_file("w.h5", &damaged(&seeds().h5, &damage));
        let _ = Weights::load(&path);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn damaged_keras_models_read_or_say_why(format in 0usize..2, damage in damage()) {
        let path = case_file("m", &damaged(&seeds().models[format], &damage));
        let _ = KerasFile::read(&path);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn damaged_safetensors_read_or_say_why(damage in damage()) {
        let path = case_file("t.safetensors", &damaged(&seeds().safetensors, &damage));
        let _ = catsdogs::tensor_file::read(&path);
        std::fs::remove_file(path).unwrap();
    }
}

/// A layer kind as a saved model stores it, with sizes anywhere from absurd to plausible.
fn layer_kind() -> impl Strategy<Value = serde_json::Value> {
    let size = prop_oneof![-3i64..70, Just(1i64 << 40), Just(i64::MAX), Just(25_088)];
    let activation = prop_oneof![
        Just("relu"),
        Just("sigmoid"),
        Just("linear"),
        Just("softmax")
    ];
    prop_oneof![
        (size.clone(), size.clone(), activation.clone()).prop_map(|(i, f, a)| {
            serde_json::json!({"conv2d": {"in_channels": i, "filters": f, "activation": a}})
        }),
        Just(serde_json::json!("max_pool2d")),
        Just(serde_json::json!("flatten")),
        (size.clone(), size, activation).prop_map(|(i, u, a)| {
            serde_json::json!({"dense": {"inputs": i, "units": u, "activation": a}})
        }),
        prop_oneof![Just(-1.0), Just(0.5), Just(1.0), Just(5.0), Just(f64::NAN)]
            .prop_map(|rate| serde_json::json!({"dropout": {"rate": rate}})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Saved models whose stored architecture says anything: loading gives a model that runs,
    /// or an error; the weights present are those of a small, valid model.
    #[test]
    fn any_stored_architecture_loads_or_says_why(
        input in proptest::collection::vec(prop_oneof![-2i64..40, Just(1i64 << 40)], 0..4),
        kinds in proptest::collection::vec(layer_kind(), 0..6),
        base_len in 0usize..8,
    ) {
        let layers: Vec<serde_json::Value> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| serde_json::json!({"name": format!("l{i}"), "kind": kind, "trainable": true}))
            .collect();
        let architecture = serde_json::json!({
            "name": "sequential_1", "input_shape": input, "base_name": "vgg16",
            "base_len": base_len, "layers": layers,
        });
        let weights = vec![
            ("l0/kernel".to_string(), Tensor::zeros([4, 3, 3, 3], (Kind::Float, Device::Cpu))),
            ("l0/bias".to_string(), Tensor::zeros([4], (Kind::Float, Device::Cpu))),
        ];
        let metadata = HashMap::from([("catsdogs.architecture".to_string(), architecture.to_string())]);
        let path = case_file("model.safetensors", b"");
        catsdogs::tensor_file::write(&path, &weights, metadata).unwrap();
        if let Ok(model) = Model::load(&path, Device::Cpu) {
            let mut shape = vec![2];
            shape.extend(model.input_shape());
            let x = Tensor::zeros(shape.as_slice(), (Kind::Float, Device::Cpu));
            prop_assert!(model.forward_t(&x, false).is_ok());
        }
        std::fs::remove_file(path).unwrap();
    }
}
