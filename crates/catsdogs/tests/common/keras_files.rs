//! Keras's whole-model files made by Keras itself, shared by the tests of their reading
//! (`keras_file.rs`) and of the models made of them (`keras_model.rs`): tf_keras (Keras 2) saves
//! the tutorial's frozen and fine-tune models (VGG16 with `weights=None` at 32x32, seeded,
//! biases and batch statistics random, under Flatten, Dropout(0.5), Dense(256, relu), Dense(1,
//! sigmoid); compiled with RMSprop and binary cross-entropy and trained one step, so that the
//! optimizer has variables; block5 trainable in the fine-tune one) and a small functional model
//! with BatchNormalization and Add (Adam) as `.h5`, and Keras 3 saves the same three as
//! `.keras`, with each model's predictions on a seeded batch (`NAME-EXT-predictions.npy` on
//! `input-SIZE.npy`).
//!
//! Keras runs once per machine: the files (about 300 MB, VGG16's weights four times) are kept
//! in `$CATSDOGS_CACHE/test-references` and made again only when the script changes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Keras's initialisers leave biases and batch statistics trivial (0 and 1): `randomise(model,
/// rng)` in Python makes them random, so that a test checks that each lands where it belongs.
#[macro_export]
macro_rules! randomise_py {
    () => {
        r#"def randomise(model, rng):
    # Keras's initialisers leave biases and batch statistics trivial (0 and 1): random ones
    # check that each lands where it belongs.
    for layer in model.layers:
        if hasattr(layer, "layers"):
            randomise(layer, rng)
            continue
        values = []
        for w, v in zip(layer.weights, layer.get_weights()):
            kind = w.name.split("/")[-1].split(":")[0]
            if kind in ("bias", "beta", "moving_mean"):
                v = rng.normal(0.0, 0.1, v.shape)
            elif kind in ("gamma", "moving_variance"):
                v = rng.uniform(0.5, 1.5, v.shape)
            values.append(np.asarray(v, np.float32))
        layer.set_weights(values)

"#
    };
}

/// Makes the fixtures in the folder given as the first argument.
pub const MAKE_FIXTURES: &str = concat!(
    r#"
import hashlib, io, json, os, sys, zipfile
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
out = sys.argv[1]
import numpy as np, h5py, keras, tf_keras

SIZE, SMALL = 32, 12

def sha(values):
    values = np.asarray(values)
    kind = "<i8" if values.dtype.kind in "iu" else "<f4"
    return hashlib.sha256(np.ascontiguousarray(values.astype(kind)).tobytes()).hexdigest()

"#,
    randomise_py!(),
    r#"def tutorial(K, fine_tune, rng):
    K.utils.set_random_seed(21)
    base = K.applications.VGG16(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    model = K.Sequential([
        K.Input((SIZE, SIZE, 3)), base, K.layers.Flatten(), K.layers.Dropout(0.5),
        K.layers.Dense(256, activation="relu"), K.layers.Dense(1, activation="sigmoid"),
    ])
    randomise(model, rng)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = fine_tune and layer.name.startswith("block5")
    model.compile(optimizer=K.optimizers.RMSprop(learning_rate=1e-4),
                  loss="binary_crossentropy", metrics=["accuracy"])
    x = rng.normal(0, 30, (4, SIZE, SIZE, 3)).astype(np.float32)
    model.fit(x, np.array([0, 1, 1, 0], np.float32), batch_size=4, epochs=1, verbose=0)
    return model

def residual(K, rng):
    K.utils.set_random_seed(22)
    inputs = K.Input((SMALL, SMALL, 3), name="image")
    x = K.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = K.layers.BatchNormalization(name="bn")(x)
    y = K.layers.Conv2D(8, 1, name="shortcut")(x)
    y = K.layers.BatchNormalization(name="shortcut_bn")(y)
    z = K.layers.Activation("relu", name="relu")(K.layers.Add(name="add")([x, y]))
    z = K.layers.GlobalAveragePooling2D(name="pool")(z)
    model = K.Model(inputs, K.layers.Dense(3, activation="softmax", name="classes")(z))
    randomise(model, rng)
    model.compile(optimizer=K.optimizers.Adam(learning_rate=1e-3), loss="categorical_crossentropy")
    x = rng.normal(0, 1, (4, SMALL, SMALL, 3)).astype(np.float32)
    model.fit(x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], batch_size=4, epochs=1, verbose=0)
    return model

def layer_hashes(model, prefix=()):
    # Keras's own layers, nested models' by their path, with their weights in Keras's order.
    found = {}
    for layer in model.layers:
        path = prefix + (layer.name,)
        if hasattr(layer, "layers"):
            found.update(layer_hashes(layer, path))
        elif layer.weights:
            found["/".join(path)] = [sha(w) for w in layer.get_weights()]
    return found

def datasets(h5):
    found = []
    h5.visititems(lambda name, obj: found.append([sha(obj[()]), list(obj.shape)])
                  if isinstance(obj, h5py.Dataset) else None)
    return sorted(found)

def h5py_view(path):
    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            return h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    return h5py.File(path, "r")

rng = np.random.default_rng(21)
inputs = {SIZE: rng.normal(0, 30, (3, SIZE, SIZE, 3)).astype(np.float32),
          SMALL: rng.normal(0, 1, (3, SMALL, SMALL, 3)).astype(np.float32)}
for size, x in inputs.items():
    np.save(os.path.join(out, "input-%d.npy" % size), x)
manifest = {"keras": keras.__version__, "tf_keras": tf_keras.__version__}
for K, ext in ((tf_keras, "h5"), (keras, "keras")):
    for name, build, size in (("frozen", lambda: tutorial(K, False, rng), SIZE),
                              ("finetune", lambda: tutorial(K, True, rng), SIZE),
                              ("residual", lambda: residual(K, rng), SMALL)):
        model = build()
        path = os.path.join(out, "%s.%s" % (name, ext))
        model.save(path)
        np.save(os.path.join(out, "%s-%s-predictions.npy" % (name, ext)),
                np.asarray(model.predict(inputs[size], verbose=0), np.float32))
        with h5py_view(path) as h5:
            manifest["%s.%s" % (name, ext)] = {"layers": layer_hashes(model), "datasets": datasets(h5)}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f)
"#
);

/// The fixtures' file names.
pub const FILES: [&str; 6] = [
    "frozen.h5",
    "finetune.h5",
    "residual.h5",
    "frozen.keras",
    "finetune.keras",
    "residual.keras",
];

/// The fixtures, made once per machine.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        super::cached_references("keras-files", &super::venv_python(), MAKE_FIXTURES, &[])
    })
}

/// What the fixture script recorded: the Kerases' versions, and per file its layers' weights'
/// and its datasets' hashes.
pub fn manifest() -> &'static serde_json::Value {
    static MANIFEST: OnceLock<serde_json::Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}
