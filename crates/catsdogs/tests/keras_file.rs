//! Keras's whole-model files against Keras itself: tf_keras (Keras 2) saves the tutorial's
//! frozen and fine-tune models (VGG16 with `weights=None` at 32x32, seeded, biases and batch
//! statistics random, under Flatten, Dropout(0.5), Dense(256, relu), Dense(1, sigmoid);
//! compiled with RMSprop and binary cross-entropy and trained one step, so that the optimizer
//! has variables; block5 trainable in the fine-tune one) and a small functional model with
//! BatchNormalization and Add (Adam) as `.h5`, and Keras 3 saves the same three as `.keras`,
//! with each model's predictions on a seeded batch (`NAME-EXT-predictions.npy` on
//! `input-SIZE.npy`) for the model's loader to compare with.
//!
//! [`KerasFile::read`] must give each file's weights exactly as h5py reads them, under the
//! names of Keras's own layers; what [`KerasFile::write`] writes must read back equal, look
//! to h5py as Keras's own file does (the same groups, attributes, datasets and values), and
//! load in Keras 3 and in tf_keras wherever they load the original, predicting the same.
//! Damaged and hostile files are each one sentence.
//!
//! The fixtures are made once per machine (see `common/keras_files.rs`). The Python is the
//! project's venv, which has tf_keras beside Keras 3 (environment/requirements.txt).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use catsdogs::hashing::sha256_hex;
use catsdogs::weights::keras_file::{KerasFile, KerasFormat, LayerWeights, Values, Weight};
use catsdogs::Error;
use common::keras_files::{fixtures, manifest, FILES};

/// Compares the files in the folder given second (ours) with the fixtures of the first, as
/// h5py sees them, and loads ours in the Kerases named (`NAME=keras,tf_keras`, the rest of the
/// arguments); prints a JSON report per file.
const CHECK_OURS: &str = r#"
import gc, hashlib, io, json, os, sys, warnings, zipfile
gc.disable()
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
warnings.filterwarnings("ignore")
fixtures, ours = sys.argv[1], sys.argv[2]
import numpy as np, h5py, keras, tf_keras
import absl.logging
absl.logging.set_verbosity(absl.logging.ERROR)

def sha(values):
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()

def attributes(obj):
    found = {}
    for key, value in obj.attrs.items():
        if isinstance(value, (bytes, np.bytes_)):
            value = value.decode()
        if isinstance(value, str):
            found[key] = ["str", json.loads(value) if key.endswith("_config") else value]
        else:
            value = np.asarray(value)
            kind = "str" if value.dtype.kind == "O" else str(value.dtype)
            found[key] = [kind, [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]]
    return found

def tree(h5):
    found = {"/": ["group", attributes(h5)]}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = ["dataset", list(obj.shape), str(obj.dtype), sha(obj[()]), attributes(obj)]
        else:
            found[name] = ["group", attributes(obj)]
    h5.visititems(visit)
    return found

def view(path):
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h5:
                return {"members": z.namelist(), "config": json.loads(z.read("config.json")),
                        "metadata": json.loads(z.read("metadata.json")), "weights": tree(h5)}
    with h5py.File(path, "r") as h5:
        return tree(h5)

def differences(a, b, at=""):
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b)):
            found += differences(a.get(key), b.get(key), at + "/" + key)
        return found
    return [] if a == b else ["%s: %r against %r" % (at, str(a)[:200], str(b)[:200])]

report = {}
for argument in sys.argv[3:]:
    name, loaders = argument.split("=")
    stem, ext = name.rsplit(".", 1)
    size = 12 if stem == "residual" else 32
    x = np.load(os.path.join(fixtures, "input-%d.npy" % size))
    expected = np.load(os.path.join(fixtures, "%s-%s-predictions.npy" % (stem, ext)))
    entry = {"differences": differences(view(os.path.join(fixtures, name)), view(os.path.join(ours, name)))}
    for K in (keras, tf_keras):
        if K.__name__ in loaders.split(","):
            model = K.models.load_model(os.path.join(ours, name))
            entry[K.__name__] = float(np.abs(model.predict(x, verbose=0) - expected).max())
    report[name] = entry
print(json.dumps(report))
"#;

fn read(name: &str) -> KerasFile {
    KerasFile::read(&fixtures().join(name)).unwrap()
}

/// The SHA-256 of a weight's values as little-endian bytes, as the script hashes them.
fn hash(weight: &Weight) -> String {
    let (values, kind) = match &weight.values {
        Values::F32(values) => (tch::Tensor::from_slice(values), tch::Kind::Float),
        Values::I64(values) => (tch::Tensor::from_slice(values), tch::Kind::Int64),
    };
    sha256_hex(catsdogs::tensor_file::bytes(&values, kind).unwrap())
}

fn path(layer: &LayerWeights) -> String {
    layer.path.join("/")
}

#[test]
fn readers_give_the_weights_h5py_reads_under_keras_layer_names() {
    for name in FILES {
        let file = read(name);
        let expected = &manifest()[name];
        // Each of Keras's layers with weights, by its path, with its weights in order.
        let ours: BTreeMap<String, Vec<String>> = file
            .layers
            .iter()
            .map(|layer| (path(layer), layer.weights.iter().map(hash).collect()))
            .collect();
        let theirs: BTreeMap<String, Vec<String>> =
            serde_json::from_value(expected["layers"].clone()).unwrap();
        assert_eq!(ours, theirs, "{name}: layers");
        assert_eq!(ours.len(), file.layers.len(), "{name}: one entry per layer");
        // Every dataset h5py reads, the optimizer's too, and nothing else.
        let mut datasets: Vec<(String, Vec<usize>)> = file
            .layers
            .iter()
            .flat_map(|l| &l.weights)
            .chain(&file.optimizer)
            .map(|w| (hash(w), w.shape.clone()))
            .collect();
        datasets.sort();
        let theirs: Vec<(String, Vec<usize>)> =
            serde_json::from_value(expected["datasets"].clone()).unwrap();
        assert_eq!(datasets, theirs, "{name}: datasets");
    }
}

#[test]
fn keras_2_files_keep_their_configs_names_and_order() {
    let file = read("finetune.h5");
    assert_eq!(file.format, KerasFormat::Keras2H5);
    assert_eq!(
        file.keras_version.as_deref(),
        manifest()["tf_keras"].as_str()
    );
    assert_eq!(file.backend.as_deref(), Some("tensorflow"));
    assert_eq!(file.model_config["class_name"], "Sequential");
    assert_eq!(file.metadata, None);
    let training = file.training_config.as_ref().unwrap();
    assert_eq!(training["loss"], "binary_crossentropy");
    assert_eq!(
        training["optimizer_config"]["config"]["name"], "RMSprop",
        "{training}"
    );
    // tf_keras saves a nested model's trainable layers first.
    let paths: Vec<String> = file.layers.iter().map(path).collect();
    assert_eq!(paths[0], "vgg16/block5_conv1");
    assert_eq!(paths[3], "vgg16/block1_conv1");
    let kernel = &file.layers[3].weights[0];
    assert_eq!(kernel.name, "block1_conv1/kernel:0");
    assert_eq!(kernel.shape, [3, 3, 3, 64], "HWIO");
    // The head: two Dense layers at the top, their weights named after them.
    assert_eq!(paths.len(), 13 + 2);
    let dense = &file.layers[13];
    assert_eq!(dense.path.len(), 1);
    assert_eq!(dense.weights[0].name, format!("{}/kernel:0", dense.path[0]));
    assert_eq!(dense.weights[0].shape, [512, 256], "(inputs, units)");
    // The iteration count, then one RMSprop slot per trainable weight.
    assert_eq!(file.optimizer[0].name, "iteration:0");
    assert_eq!(file.optimizer[0].values, Values::I64(vec![1]));
    assert_eq!(file.optimizer.len(), 1 + 2 * 3 + 2 * 2);
    assert_eq!(
        file.optimizer[1].name,
        "RMSprop/velocity/block5_conv1/kernel:0"
    );
}

#[test]
fn keras_3_files_keep_their_configs_names_and_order() {
    let file = read("finetune.keras");
    assert_eq!(file.format, KerasFormat::Keras3Zip);
    assert_eq!(file.keras_version.as_deref(), manifest()["keras"].as_str());
    assert_eq!(file.backend, None);
    assert_eq!(file.training_config, None);
    let metadata = file.metadata.as_ref().unwrap();
    assert_eq!(metadata["keras_version"], manifest()["keras"]);
    let compiled = &file.model_config["compile_config"];
    assert_eq!(compiled["loss"], "binary_crossentropy");
    assert_eq!(compiled["optimizer"]["class_name"], "RMSprop");
    let paths: Vec<String> = file.layers.iter().map(path).collect();
    assert_eq!(paths[0], "vgg16/block1_conv1");
    assert_eq!(paths[12], "vgg16/block5_conv3");
    assert_eq!(paths[13..].len(), 2);
    let kernel = &file.layers[0].weights[0];
    assert_eq!(
        (kernel.name.as_str(), kernel.shape.as_slice()),
        ("0", &[3, 3, 3, 64][..])
    );
    // The iteration count, the learning rate, then one slot per trainable weight.
    assert_eq!(file.optimizer[0].values, Values::I64(vec![1]));
    assert_eq!(file.optimizer[1].shape, Vec::<usize>::new());
    assert_eq!(file.optimizer.len(), 2 + 2 * 3 + 2 * 2);
    let residual = read("residual.keras");
    let paths: Vec<String> = residual.layers.iter().map(path).collect();
    assert_eq!(paths, ["conv", "bn", "shortcut", "shortcut_bn", "classes"]);
    assert_eq!(residual.layers[1].weights.len(), 4, "BatchNormalization");
}

/// Writes each fixture read by ours into `dir`, under the fixture's name.
fn write_ours(dir: &Path) -> Vec<(KerasFile, PathBuf)> {
    FILES
        .iter()
        .map(|name| {
            let file = read(name);
            let ours = dir.join(name);
            file.write(&ours).unwrap();
            (file, ours)
        })
        .collect()
}

#[test]
fn ours_read_back_equal_and_keras_reads_them_as_its_own() {
    let dir = tempfile::tempdir().unwrap();
    for (file, ours) in write_ours(dir.path()) {
        assert_eq!(KerasFile::read(&ours).unwrap(), file, "{}", ours.display());
    }
    // tf_keras loads every .h5, Keras 3 every .keras and the functional .h5 (it cannot load
    // tf_keras's nested Sequential .h5, the original or ours).
    let loaders = |name: &str| match name {
        "residual.h5" => "keras,tf_keras",
        _ if name.ends_with(".h5") => "tf_keras",
        _ => "keras",
    };
    let arguments: Vec<String> = FILES
        .iter()
        .map(|name| format!("{name}={}", loaders(name)))
        .collect();
    let folders = [fixtures().to_str().unwrap(), dir.path().to_str().unwrap()];
    let arguments: Vec<&str> = folders
        .into_iter()
        .chain(arguments.iter().map(String::as_str))
        .collect();
    let report = common::run_python(CHECK_OURS, &arguments);
    let report: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    eprintln!("{report}");
    for name in FILES {
        let entry = &report[name];
        assert_eq!(
            entry["differences"],
            serde_json::json!([]),
            "{name}: as h5py sees it"
        );
        for loader in loaders(name).split(',') {
            let error = entry[loader].as_f64().unwrap();
            assert!(error <= 1e-4, "{name} in {loader} predicts {error} apart");
        }
    }
}

/// Runs a Python script with h5py that writes damaged copies of a fixture into a folder.
fn damaged(script: &str, source: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(source);
    std::fs::copy(fixtures().join(source), &target).unwrap();
    common::run_python(script, &[target.to_str().unwrap()]);
    (dir, target)
}

fn error_of(path: &Path) -> String {
    KerasFile::read(path).unwrap_err().to_string()
}

#[test]
fn damaged_keras_2_files_are_one_sentence_each() {
    let shown = |p: &Path| p.display().to_string();
    // A missing layer group.
    let (_dir, path) = damaged(
        "import h5py, sys\nwith h5py.File(sys.argv[1], 'r+') as f: del f['model_weights/conv']",
        "residual.h5",
    );
    assert_eq!(
        error_of(&path),
        format!(
            "{} has no group model_weights/conv, so it is not a Keras 2 .h5 model (what \
             tf_keras's model.save writes) (or it is damaged): save it again with Keras",
            shown(&path)
        )
    );
    // A config that is no string, and one that is no JSON.
    let (_dir, path) = damaged(
        "import h5py, sys\nwith h5py.File(sys.argv[1], 'r+') as f: f.attrs['model_config'] = 7",
        "residual.h5",
    );
    assert!(matches!(
        KerasFile::read(&path).unwrap_err(),
        Error::KerasInvalid { ref part, .. } if part == "attribute model_config"
    ));
    let (_dir, path) = damaged(
        "import h5py, sys\nwith h5py.File(sys.argv[1], 'r+') as f: f.attrs['model_config'] = '{oops'",
        "residual.h5",
    );
    assert!(error_of(&path).starts_with(&format!(
        "{}: attribute model_config is not JSON (",
        shown(&path)
    )));
    // A dataset that declares 2^40 values, stored as nothing (chunked, never written).
    let (_dir, path) = damaged(
        "import h5py, sys\n\
         with h5py.File(sys.argv[1], 'r+') as f:\n\
         \x20   g = f['model_weights/classes']\n\
         \x20   del g['classes/kernel:0']\n\
         \x20   g.create_dataset('classes/kernel:0', shape=(1 << 20, 1 << 20), dtype='f4', chunks=(8, 8))",
        "residual.h5",
    );
    assert_eq!(
        error_of(&path),
        format!(
            "{}: dataset model_weights/classes/classes/kernel:0 declares shape (1048576, 1048576): \
             a tensor of shape [1048576, 1048576] is negative or larger than the 268435456 values \
             any weight has; the file is damaged or was not written by Keras",
            shown(&path)
        )
    );
    // A file cut short.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.h5");
    let bytes = std::fs::read(fixtures().join("residual.h5")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(
        error_of(&path),
        format!(
            "{} is truncated: its HDF5 header says it is {} bytes long but it has {}; copy or \
             save it again",
            shown(&path),
            bytes.len(),
            bytes.len() / 2
        )
    );
    // Neither HDF5 nor zip.
    std::fs::write(&path, b"just some text").unwrap();
    assert_eq!(
        error_of(&path),
        format!(
            "{}: its content is neither HDF5 (a Keras 2 .h5 model) nor a zip (a Keras 3 .keras \
             model): give a file that Keras's model.save wrote",
            shown(&path)
        )
    );
}

/// A copy of `residual.keras` with its members changed: `None` leaves one out.
fn rezipped(dir: &Path, change: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) -> PathBuf {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(fixtures().join("residual.keras")).unwrap())
            .unwrap();
    let path = dir.join("changed.keras");
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).unwrap();
        let name = member.name().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut bytes).unwrap();
        if let Some(bytes) = change(&name, bytes) {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            out.start_file(name, options).unwrap();
            out.write_all(&bytes).unwrap();
        }
    }
    out.finish().unwrap();
    path
}

#[test]
fn damaged_keras_3_files_are_one_sentence_each() {
    let dir = tempfile::tempdir().unwrap();
    let shown = |p: &Path| p.display().to_string();
    // Deflated members read as stored ones do.
    let same = rezipped(dir.path(), |_, bytes| Some(bytes));
    assert_eq!(KerasFile::read(&same).unwrap(), read("residual.keras"));
    // A missing member.
    let path = rezipped(dir.path(), |name, bytes| {
        (name != "model.weights.h5").then_some(bytes)
    });
    assert_eq!(
        error_of(&path),
        format!(
            "{} has no member model.weights.h5, so it is not a Keras 3 .keras model (what \
             Keras's model.save writes) (or it is damaged): save it again with Keras",
            shown(&path)
        )
    );
    // A member that unpacks to 64 MiB from a few kilobytes.
    let path = rezipped(dir.path(), |name, bytes| {
        Some(if name == "config.json" {
            vec![b' '; 64 << 20]
        } else {
            bytes
        })
    });
    let error = KerasFile::read(&path).unwrap_err();
    assert!(
        matches!(error, Error::ZipBomb { ref member, declared, .. } if member == "config.json" && declared == 64 << 20),
        "{error}"
    );
    // Weights that belong to another model's layer.
    let path = rezipped(dir.path(), |name, bytes| {
        Some(if name == "config.json" {
            String::from_utf8(bytes)
                .unwrap()
                .replace("\"classes\"", "\"other\"")
                .into_bytes()
        } else {
            bytes
        })
    });
    assert_eq!(
        error_of(&path),
        format!(
            "{}: group layers/dense/vars of model.weights.h5 holds the variables of classes, \
             where the config saves other there: the config and the weights do not belong \
             together; save the model again with Keras",
            shown(&path)
        )
    );
    // A file cut short loses the zip's directory at its end.
    let bytes = std::fs::read(fixtures().join("residual.keras")).unwrap();
    let path = dir.path().join("cut.keras");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert!(error_of(&path).starts_with(&format!(
        "cannot read {} as a Keras 3 .keras model (what Keras's model.save writes): it is not a \
         readable zip archive (",
        shown(&path)
    )));
}

#[test]
fn a_weight_whose_values_do_not_fill_its_shape_is_not_written() {
    let mut file = read("residual.h5");
    file.layers[0].weights[0].shape = vec![2, 2];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.h5");
    let error = file.write(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}: weight conv/kernel:0 has shape (2, 2) but 216 values: give a weight as many \
             values as its shape holds",
            path.display()
        )
    );
    assert!(!path.exists(), "nothing is left behind");
    file.layers[0].weights[0].shape = vec![216];
    file.layers[0].path = vec!["conv9".into()];
    assert_eq!(
        file.write(&path).unwrap_err().to_string(),
        format!(
            "{}: the weights of conv9 belong to no layer that the model's config saves \
             (image, conv, bn, shortcut, shortcut_bn, add, relu, pool, classes): give the \
             weights of the config's layers",
            path.display()
        )
    );
}
