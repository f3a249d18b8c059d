//! `load_model` and `save_keras` against Keras itself. Keras's files (the tutorial's frozen and
//! fine-tune models and a residual one, see `common/keras_files.rs`; and a "zoo" of the other
//! layers and a plain Sequential, made here) load and predict as Keras predicted them, within
//! 1e-4, with Keras's trainable flags, parameter counts, compiled optimizer and its state.
//! Written back by `save_keras` as `.keras` and `.h5`, Keras 3 and tf_keras load them and
//! predict what they predict here, and so does `load_model`. A layer catsdogs lacks, a
//! truncated file and weights that do not fit the config are each one sentence.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use catsdogs::applications::Backbone;
use catsdogs::losses::Loss;
use catsdogs::model::{Activation, Model, Sequential};
use catsdogs::optimizers::RMSprop;
use catsdogs::precision::Precision;
use catsdogs::weights::keras_file::{KerasFile, Values};
use catsdogs::weights::load_model;
use common::keras_files;
use tch::Tensor;

/// Makes, in the folder given first, the zoo (a functional model of the layers the tutorial's
/// models lack: Rescaling, ZeroPadding2D, a dilated Conv2D, BatchNormalization, a
/// DepthwiseConv2D without bias, ReLU(6), 'same' max and average poolings, Add, a Flatten of
/// 2x2 maps, GlobalMaxPooling2D; SGD with Nesterov momentum) and a plain Sequential
/// (Conv2D, MaxPooling2D, Flatten of 4x4 maps, Dense; Adam), each trained one step, as `.h5`
/// by tf_keras and `.keras` by Keras 3, with their predictions and Keras's parameter counts.
const MAKE_ZOO: &str = concat!(
    r#"
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
out = sys.argv[1]
import numpy as np, keras, tf_keras

"#,
    crate::randomise_py!(),
    r#"def zoo(K, rng):
    K.utils.set_random_seed(23)
    L = K.layers
    inputs = K.Input((12, 12, 3), name="image")
    x = L.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    x = L.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(x)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu", name="dilated")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="depthwise")(x)
    x = L.ReLU(max_value=6.0, name="relu6")(x)
    a = L.MaxPooling2D(3, strides=2, padding="same", name="max_same")(x)
    b = L.AveragePooling2D(3, strides=2, padding="same", name="avg_same")(x)
    x = L.Add(name="add")([a, b])
    f = L.AveragePooling2D(2, name="avg")(x)
    f = L.Flatten(name="flatten")(f)
    f = L.Dropout(0.3, name="dropout")(f)
    f = L.Dense(6, activation="relu", name="dense_flat")(f)
    g = L.GlobalMaxPooling2D(name="max_global")(x)
    g = L.Dense(6, name="dense_global")(g)
    y = L.Activation("softmax", name="softmax")(L.Add(name="sum")([f, g]))
    model = K.Model(inputs, y, name="zoo")
    randomise(model, rng)
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
                  loss="binary_crossentropy")
    x = rng.uniform(0, 255, (4, 12, 12, 3)).astype(np.float32)
    model.fit(x, np.eye(6, dtype=np.float32)[[0, 1, 2, 3]], batch_size=4, epochs=1, verbose=0)
    return model

def plain(K, rng):
    K.utils.set_random_seed(24)
    L = K.layers
    model = K.Sequential([K.Input((10, 10, 3)), L.Conv2D(4, 3, activation="relu", name="conv"),
                          L.MaxPooling2D(name="pool"), L.Flatten(name="flatten"),
                          L.Dense(2, activation="sigmoid", name="dense")], name="plain")
    randomise(model, rng)
    model.compile(optimizer=K.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")
    x = rng.normal(0, 1, (4, 10, 10, 3)).astype(np.float32)
    model.fit(x, np.array([[0, 1], [1, 0], [1, 1], [0, 0]], np.float32), batch_size=4, epochs=1, verbose=0)
    return model

rng = np.random.default_rng(23)
inputs = {"zoo": rng.uniform(0, 255, (3, 12, 12, 3)).astype(np.float32),
          "plain": rng.normal(0, 1, (3, 10, 10, 3)).astype(np.float32)}
counts = {}
for name, x in inputs.items():
    np.save(os.path.join(out, "input-%s.npy" % name), x)
for K, ext in ((tf_keras, "h5"), (keras, "keras")):
    for name, build in (("zoo", zoo), ("plain", plain)):
        model = build(K, rng)
        model.save(os.path.join(out, "%s.%s" % (name, ext)))
        np.save(os.path.join(out, "%s-%s-predictions.npy" % (name, ext)),
                np.asarray(model.predict(inputs[name], verbose=0), np.float32))
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        counts["%s.%s" % (name, ext)] = [int(model.count_params()), trainable]
with open(os.path.join(out, "counts.json"), "w") as f:
    json.dump(counts, f)
"#
);

/// Loads each file named in the folder given first in the Kerases named (`NAME=keras,tf_keras`,
/// the rest of the arguments) and prints, per file, how far its predictions on `NAME.npy`'s
/// input (`NAME-input.npy`) are from ours (`NAME-ours.npy`), its parameter counts and its
/// compiled optimizer, as one JSON line.
const CHECK_OURS: &str = r#"
import json, os, sys, warnings
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
warnings.filterwarnings("ignore")
folder = sys.argv[1]
import numpy as np, keras, tf_keras
import absl.logging
absl.logging.set_verbosity(absl.logging.ERROR)
report = {}
for argument in sys.argv[2:]:
    name, loaders = argument.split("=")
    x = np.load(os.path.join(folder, name + "-input.npy"))
    ours = np.load(os.path.join(folder, name + "-ours.npy"))
    for K in (keras, tf_keras):
        if K.__name__ not in loaders.split(","):
            continue
        model = K.models.load_model(os.path.join(folder, name))
        optimizer = getattr(model, "optimizer", None)
        variables = [] if optimizer is None else optimizer.variables
        variables = [np.asarray(v) for v in (variables() if callable(variables) else variables)]
        report["%s in %s" % (name, K.__name__)] = {
            "difference": float(np.abs(model.predict(x, verbose=0) - ours).max()),
            "params": [int(model.count_params()),
                       int(sum(np.prod(w.shape) for w in model.trainable_weights))],
            "optimizer": None if optimizer is None else [type(optimizer).__name__,
                                                         float(np.asarray(optimizer.learning_rate))],
            "optimizer_state": [len(variables), float(sum(np.abs(v.astype(np.float64)).sum() for v in variables))],
        }
print(json.dumps(report))
"#;

/// The zoo and the plain Sequential, made once per machine.
fn zoo() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        common::cached_references("keras-zoo", &common::venv_python(), MAKE_ZOO, &[])
    })
}

/// A fixture: its folder, file, input and Keras's predictions.
struct Fixture {
    file: PathBuf,
    input: Tensor,
    expected: Tensor,
}

fn fixture(name: &str) -> Fixture {
    let (stem, ext) = name.rsplit_once('.').unwrap();
    let (dir, input) = match stem {
        "zoo" | "plain" => (zoo(), format!("input-{stem}.npy")),
        "residual" => (keras_files::fixtures(), "input-12.npy".to_string()),
        _ => (keras_files::fixtures(), "input-32.npy".to_string()),
    };
    Fixture {
        file: dir.join(name),
        input: Tensor::read_npy(dir.join(input)).unwrap(),
        expected: Tensor::read_npy(dir.join(format!("{stem}-{ext}-predictions.npy"))).unwrap(),
    }
}

/// The model in a file, computing in float32 as Keras does.
fn load(path: &Path) -> Model {
    load_model(path).unwrap().with_precision(Precision::Fp32)
}

/// The model's predictions on a Keras (NHWC) batch.
fn predict(model: &Model, nhwc: &Tensor) -> Tensor {
    let x = nhwc.permute([0, 3, 1, 2]).to_device(model.device());
    model.forward(&x).unwrap().to_device(tch::Device::Cpu)
}

fn max_difference(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

const ALL: [&str; 10] = [
    "frozen.h5",
    "finetune.h5",
    "residual.h5",
    "zoo.h5",
    "plain.h5",
    "frozen.keras",
    "finetune.keras",
    "residual.keras",
    "zoo.keras",
    "plain.keras",
];

/// Keras's parameter counts of a fixture: (total, trainable).
fn keras_counts(name: &str) -> (i64, i64) {
    if name.starts_with("zoo") || name.starts_with("plain") {
        let text = std::fs::read_to_string(zoo().join("counts.json")).unwrap();
        let counts: BTreeMap<String, (i64, i64)> = serde_json::from_str(&text).unwrap();
        return counts[name];
    }
    // The tutorial's and the residual model: every weight in the file, and the trainable ones
    // are those the optimizer keeps slots for (one each in RMSprop, two in Adam).
    let file = KerasFile::read(&keras_files::fixtures().join(name)).unwrap();
    let numel = |shape: &[usize]| shape.iter().product::<usize>() as i64;
    let total = file
        .layers
        .iter()
        .flat_map(|l| &l.weights)
        .map(|w| numel(&w.shape))
        .sum();
    let skip = if name.ends_with(".keras") { 2 } else { 1 };
    let slots: i64 = file.optimizer[skip..].iter().map(|w| numel(&w.shape)).sum();
    let per_weight = if name.starts_with("residual") { 2 } else { 1 };
    (total, slots / per_weight)
}

#[test]
fn keras_files_load_and_predict_as_keras_does() {
    let _no_grad = tch::no_grad_guard();
    let mut report = Vec::new();
    for name in ALL {
        let fixture = fixture(name);
        let model = load(&fixture.file);
        let difference = max_difference(&predict(&model, &fixture.input), &fixture.expected);
        report.push(format!("{name}: {difference:.2e}"));
        assert!(
            difference <= 1e-4,
            "{name} predicts {difference} apart from Keras"
        );
        let summary = model.summary();
        let counts = (summary.total_params(), summary.trainable_params());
        assert_eq!(
            counts,
            keras_counts(name),
            "{name}: Keras's parameter counts"
        );
        // Our own model file holds every kind too.
        if name.starts_with("zoo") || name.starts_with("plain") {
            let dir = tempfile::tempdir().unwrap();
            model.save(dir.path().join("model.safetensors")).unwrap();
            let again = load(&dir.path().join("model.safetensors"));
            assert_eq!(again.summary(), summary, "{name}");
            let ours = predict(&again, &fixture.input);
            assert_eq!(max_difference(&ours, &predict(&model, &fixture.input)), 0.0);
        }
    }
    eprintln!("largest differences from Keras: {}", report.join(", "));
}

#[test]
fn the_tutorials_models_keep_their_base_flags_and_compiled_optimizer() {
    for ext in ["h5", "keras"] {
        let model = load_model(fixture(&format!("finetune.{ext}")).file).unwrap();
        assert_eq!(model.base_name(), "vgg16");
        assert_eq!(model.base_len(), 18, "VGG16's layers without its input");
        assert!(model.layers()[model.base_len()]
            .name()
            .starts_with("flatten"));
        for layer in model.layers() {
            let trainable =
                !layer.name().starts_with("block") || layer.name().starts_with("block5");
            assert_eq!(layer.trainable(), trainable, "{ext}: {}", layer.name());
        }
        let compiled = model.compiled().unwrap();
        assert_eq!(compiled.loss, Loss::BinaryCrossentropy);
        let lr = compiled.optimizer.learning_rate();
        assert!((lr - 1e-4).abs() < 1e-10, "{ext}: {lr}");
        assert!(compiled.optimizer.config().starts_with("RMSprop("));
    }
    // The residual model's categorical cross-entropy is not catsdogs's: it loads uncompiled.
    let residual = load_model(fixture("residual.keras").file).unwrap();
    assert!(residual.compiled().is_err());
}

/// The accumulator of RMSprop (and Adam's and SGD's slots) come back in this crate's layout
/// under the weights' names, so the next step carries on from them: a step after loading
/// moves the accumulator from the loaded value by the gradient.
/// The state of a compiled model's optimizer, by name.
fn optimizer_state(model: &Model) -> BTreeMap<String, Tensor> {
    let optimizer = &model.compiled().unwrap().optimizer;
    optimizer.state().into_iter().collect()
}

#[test]
fn the_optimizers_state_carries_on() {
    let finetune = fixture("finetune.h5");
    let file = KerasFile::read(&finetune.file).unwrap();
    let mut model = load(&finetune.file);
    let state = optimizer_state(&model);
    assert_eq!(
        state.len(),
        2 * 3 + 2 * 2,
        "block5's three convolutions and the two Dense"
    );
    let stored = file
        .optimizer
        .iter()
        .find(|w| w.name == "RMSprop/velocity/block5_conv1/kernel:0")
        .unwrap();
    let Values::F32(values) = &stored.values else {
        panic!("float32")
    };
    let shape: Vec<i64> = stored.shape.iter().map(|&n| n as i64).collect();
    let hwio = Tensor::from_slice(values).reshape(&shape);
    let loaded = &state["block5_conv1/kernel"];
    assert_eq!(
        max_difference(loaded, &hwio.permute([3, 2, 0, 1])),
        0.0,
        "OIHW"
    );
    let before = loaded.copy();
    // One step on the fixture's batch: a' = rho a + (1 - rho) g^2 from the loaded a.
    let x = finetune.input.permute([0, 3, 1, 2]);
    let p = model.forward_t(&x, false).unwrap();
    let compiled = model.compiled().unwrap();
    let loss = compiled
        .loss
        .f_compute(&p, &Tensor::from_slice(&[1.0f32, 0.0, 1.0]))
        .unwrap();
    loss.backward();
    let params = model.trainable_parameters();
    let grad = params
        .iter()
        .find(|(n, _)| n == "block5_conv1/kernel")
        .unwrap()
        .1
        .grad();
    model
        .compiled_mut()
        .unwrap()
        .optimizer
        .step(&params)
        .unwrap();
    let state = optimizer_state(&model);
    let expected = &before * 0.9 + grad.square() * 0.1;
    assert!(max_difference(&state["block5_conv1/kernel"], &expected) < 1e-9);
    // Adam's moments and step count, SGD's velocities.
    for (name, count) in [
        ("residual.h5", 0),
        ("plain.keras", 2 * 4 + 1),
        ("zoo.h5", 9),
    ] {
        let model = load_model(fixture(name).file).unwrap();
        let Ok(compiled) = model.compiled() else {
            assert_eq!(
                name, "residual.h5",
                "only the residual model's loss is missing"
            );
            continue;
        };
        assert_eq!(compiled.optimizer.state().len(), count, "{name}");
    }
}

/// A file that `save_keras` wrote, and what Keras should find in it.
struct Written {
    name: String,
    /// The Kerases that load it, `keras,tf_keras`; the first restores the optimizer's state.
    loaders: &'static str,
    input: Tensor,
    predicted: Tensor,
    /// Parameters, and trainable ones.
    counts: (i64, i64),
    /// The compiled optimizer's class and learning rate.
    optimizer: Option<(String, f64)>,
    /// How many optimizer variables the file holds, and the sum of their absolute values.
    state: (usize, f64),
}

/// The optimizer variables of a Keras file: how many, and the sum of their absolute values.
fn stored_state(path: &Path) -> (usize, f64) {
    let file = KerasFile::read(path).unwrap();
    let sum = file
        .optimizer
        .iter()
        .map(|w| match &w.values {
            Values::F32(v) => v.iter().map(|x| f64::from(x.abs())).sum::<f64>(),
            Values::I64(v) => v.iter().map(|x| x.abs() as f64).sum(),
        })
        .sum();
    (file.optimizer.len(), sum)
}

/// The files `save_keras` wrote, checked by Keras: each within 1e-4 of our predictions, with
/// our parameter counts and compiled optimizer, and its state restored by the Keras it is for.
fn check_in_keras(dir: &Path, files: &[Written]) {
    let mut arguments = vec![dir.to_str().unwrap().to_string()];
    for file in files {
        let name = &file.name;
        file.input
            .write_npy(dir.join(format!("{name}-input.npy")))
            .unwrap();
        file.predicted
            .write_npy(dir.join(format!("{name}-ours.npy")))
            .unwrap();
        arguments.push(format!("{name}={}", file.loaders));
    }
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let output = common::run_python(CHECK_OURS, &arguments);
    let report: serde_json::Value = serde_json::from_str(output.lines().last().unwrap()).unwrap();
    eprintln!("{report}");
    for file in files {
        for (i, loader) in file.loaders.split(',').enumerate() {
            let at = format!("{} in {loader}", file.name);
            let entry = &report[&at];
            let difference = entry["difference"].as_f64().unwrap();
            assert!(difference <= 1e-4, "{at} predicts {difference} apart");
            let params: (i64, i64) = serde_json::from_value(entry["params"].clone()).unwrap();
            assert_eq!(params, file.counts, "{at}: parameter counts");
            let optimizer: Option<(String, f64)> =
                serde_json::from_value(entry["optimizer"].clone()).unwrap();
            let same = match (&optimizer, &file.optimizer) {
                (Some((a, x)), Some((b, y))) => a == b && (x - y).abs() <= 1e-7 * y,
                (a, b) => a.is_none() && b.is_none(),
            };
            assert!(
                same,
                "{at}: {optimizer:?} where ours is {:?}",
                file.optimizer
            );
            if i == 0 && file.optimizer.is_some() {
                let (count, sum): (usize, f64) =
                    serde_json::from_value(entry["optimizer_state"].clone()).unwrap();
                assert_eq!(count, file.state.0, "{at}: the optimizer's variables");
                assert!(
                    (sum - file.state.1).abs() <= 1e-6 * file.state.1,
                    "{at}: {sum} where ours sum to {}",
                    file.state.1
                );
            }
        }
    }
}

#[test]
fn ours_load_in_keras_and_back_predicting_the_same() {
    let _no_grad = tch::no_grad_guard();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // The tutorial's model as built here, compiled and stepped once, and Keras's models as
    // loaded here.
    tch::manual_seed(21);
    let base = Backbone::Vgg16
        .application(false)
        .input_size(32, 32)
        .build(tch::Device::Cpu)
        .unwrap();
    let mut ours = Sequential::new(&base)
        .flatten()
        .dropout(0.5)
        .dense(256, Activation::Relu)
        .dense(1, Activation::Sigmoid)
        .with_precision(Precision::Fp32);
    ours.freeze_base();
    ours.compile(RMSprop::new(2e-5), Loss::BinaryCrossentropy);
    let input = fixture("frozen.keras").input;
    tch::with_grad(|| {
        let p = ours.forward_t(&input.permute([0, 3, 1, 2]), true).unwrap();
        let y = Tensor::from_slice(&[1.0f32, 0.0, 1.0]);
        ours.compiled()
            .unwrap()
            .loss
            .f_compute(&p, &y)
            .unwrap()
            .backward();
    });
    let params = ours.trainable_parameters();
    ours.compiled_mut()
        .unwrap()
        .optimizer
        .step(&params)
        .unwrap();
    let mut models: Vec<(&str, Model, Tensor)> = vec![("tutorial", ours, input)];
    for name in [
        "finetune.keras",
        "residual.keras",
        "zoo.keras",
        "plain.keras",
    ] {
        let fixture = fixture(name);
        models.push((
            name.split('.').next().unwrap(),
            load(&fixture.file),
            fixture.input,
        ));
    }
    for (stem, model, input) in &models {
        let predicted = predict(model, input);
        let summary = model.summary();
        let optimizer = model.compiled().ok().map(|c| {
            let (class, _) = c.optimizer.keras_config();
            (class.to_string(), c.optimizer.learning_rate())
        });
        for (ext, loaders) in [("keras", "keras"), ("h5", "tf_keras")] {
            let name = format!("{stem}.{ext}");
            let path = dir.path().join(&name);
            model.save_keras(&path).unwrap();
            // Read back here: the same predictions, summary, optimizer and state.
            let again = load(&path);
            assert_eq!(
                max_difference(&predict(&again, input), &predicted),
                0.0,
                "{name}"
            );
            assert_eq!(again.summary(), model.summary(), "{name}");
            if ext == "keras" {
                assert_eq!(again.preprocess(), model.preprocess(), "{name}");
            }
            let config = |m: &Model| m.compiled().map(|c| c.optimizer.config()).ok();
            assert_eq!(config(&again), config(model), "{name}");
            let state = |m: &Model| -> Vec<(String, Tensor)> {
                m.compiled()
                    .map(|c| c.optimizer.state())
                    .unwrap_or_default()
            };
            let (before, after) = (state(model), state(&again));
            assert_eq!(before.len(), after.len(), "{name}: the optimizer's state");
            for ((a, x), (b, y)) in before.iter().zip(&after) {
                assert_eq!((a, x.size()), (b, y.size()), "{name}");
                assert_eq!(
                    max_difference(&x.to_kind(tch::Kind::Double), &y.to_kind(tch::Kind::Double)),
                    0.0,
                    "{name}: {a}"
                );
            }
            let functional = matches!(*stem, "residual" | "zoo");
            files.push(Written {
                name,
                loaders: if functional && ext == "h5" {
                    "tf_keras,keras"
                } else {
                    loaders
                },
                input: input.shallow_clone(),
                predicted: predicted.shallow_clone(),
                counts: (summary.total_params(), summary.trainable_params()),
                optimizer: optimizer.clone(),
                state: stored_state(&path),
            });
        }
    }
    check_in_keras(dir.path(), &files);
}

fn load_error(path: &Path) -> String {
    load_model(path).unwrap_err().to_string()
}

/// `residual.h5` with its model config changed by `change`, written by the plain-data writer.
fn changed(dir: &Path, change: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut file = KerasFile::read(&fixture("residual.h5").file).unwrap();
    change(&mut file.model_config);
    let path = dir.join("changed.h5");
    file.write(&path).unwrap();
    path
}

/// The config entry of the residual model's layer `name`.
fn layer<'a>(config: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    layers.iter_mut().find(|l| l["name"] == name).unwrap()
}

#[test]
fn files_catsdogs_cannot_load_are_one_sentence_each() {
    let dir = tempfile::tempdir().unwrap();
    // A layer catsdogs lacks.
    let path = changed(dir.path(), |config| {
        layer(config, "relu")["class_name"] = "LeakyReLU".into();
    });
    let error = load_error(&path);
    assert!(
        error.starts_with(&format!(
            "{}: its layer relu (LeakyReLU) is of a class that catsdogs does not have (it has InputLayer, Conv2D, ",
            path.display()
        )),
        "{error}"
    );
    assert!(
        error.ends_with(", so catsdogs cannot load this model"),
        "{error}"
    );
    // A config it cannot compute.
    let path = changed(dir.path(), |config| {
        layer(config, "conv")["config"]["groups"] = 2.into();
    });
    assert_eq!(
        load_error(&path),
        format!("{}: its layer conv (Conv2D) has groups=2, where catsdogs's Conv2D has groups=1 only, so catsdogs cannot load this model", path.display())
    );
    // Weights that do not fit the config: more filters, and no bias.
    let path = changed(dir.path(), |config| {
        layer(config, "conv")["config"]["filters"] = 16.into();
    });
    let error = load_error(&path);
    assert!(error.contains("its layer conv (Conv2D) has its kernel of shape (3, 3, 3, 8) in the file, where its config makes (3, 3, 3, 16): the config and the weights do not belong together; save the model again with Keras"), "{error}");
    let path = changed(dir.path(), |config| {
        layer(config, "conv")["config"]["use_bias"] = false.into();
    });
    assert_eq!(
        load_error(&path),
        format!("{}: its layer conv (Conv2D) has 2 weights in the file, where its config makes 1 (kernel): the config and the weights do not belong together; save the model again with Keras", path.display())
    );
    // An input of no fixed size.
    let path = changed(dir.path(), |config| {
        layer(config, "image")["config"]["batch_input_shape"] =
            serde_json::json!([null, null, null, 3]);
    });
    assert_eq!(
        load_error(&path),
        format!("{}: its layer image (InputLayer) takes [None,None,None,3], where catsdogs runs RGB images of a fixed size, (None, height, width, 3) with 1 to 4096 pixels a side: save the model built on Input(shape=(height, width, 3))", path.display())
    );
    // A truncated file.
    let bytes = std::fs::read(fixture("residual.keras").file).unwrap();
    let path = dir.path().join("cut.keras");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert!(load_error(&path).starts_with(&format!(
        "cannot read {} as a Keras 3 .keras model",
        path.display()
    )));
}

#[test]
fn models_keras_cannot_hold_are_refused_in_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pt");
    let base = Backbone::Vgg16
        .application(false)
        .input_size(32, 32)
        .build(tch::Device::Cpu)
        .unwrap();
    let error = base.save_keras(&path).unwrap_err().to_string();
    assert_eq!(error, format!("cannot save vgg16 as {}: Keras's model files end in .keras (Keras 3) or .h5 (Keras 2): name the file so", path.display()));
    // A model that ends in a Flatten of 2x2 maps would give Keras's features in another order.
    let base = Backbone::Vgg16
        .application(false)
        .input_size(64, 64)
        .build(tch::Device::Cpu)
        .unwrap();
    let flat = Sequential::new(&base).flatten();
    let path = dir.path().join("flat.keras");
    let error = flat.save_keras(&path).unwrap_err().to_string();
    assert_eq!(error, format!("cannot save sequential_1 as {}: it gives the features of a Flatten of (None, 2, 2, 512) maps as its output, which catsdogs orders channels first where Keras orders them channels last: end the model in a Dense", path.display()));
    assert!(!path.exists());
}
