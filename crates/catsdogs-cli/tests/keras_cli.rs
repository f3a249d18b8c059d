//! Keras's model files on the command line: `predict` on a Keras `.h5`/`.keras` file and on a
//! ready input batch (`--npy`), printing raw outputs (`--json`) as Keras predicts them;
//! `summary --model FILE` with Keras's parameter counts; `convert-model` between our files and
//! Keras's, writing only new files. The files are the ones Keras made for the crate's tests
//! (`catsdogs/tests/common/keras_files.rs`).

mod cli;
#[path = "../../catsdogs/tests/common/mod.rs"]
mod common;

use std::path::Path;

use catsdogs::tch::Tensor;
use cli::{catsdogs, ok, path, refused};
use common::keras_files::fixtures;

/// The outputs `predict --json` printed, one row per input.
fn outputs(stdout: &str) -> Tensor {
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let rows: Vec<Vec<f32>> = serde_json::from_value(json["outputs"].clone()).unwrap();
    let width = rows[0].len() as i64;
    Tensor::from_slice(&rows.concat()).reshape([-1, width])
}

/// `predict MODEL --npy X --json` in float32.
fn predict_json(model: &Path, npy: &Path) -> Tensor {
    let args = [
        "predict",
        path(model),
        "--npy",
        path(npy),
        "--json",
        "--precision",
        "fp32",
    ];
    outputs(&ok(&catsdogs(&args)))
}

fn max_difference(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn predict_runs_keras_files_on_ready_batches_as_keras_does() {
    let dir = fixtures();
    let (frozen, residual) = (dir.join("frozen.h5"), dir.join("residual.keras"));
    let (small, manifest) = (dir.join("input-12.npy"), dir.join("manifest.json"));
    for (name, input) in [
        ("residual.h5", "input-12.npy"),
        ("frozen.keras", "input-32.npy"),
    ] {
        let (stem, ext) = name.split_once('.').unwrap();
        let expected = Tensor::read_npy(dir.join(format!("{stem}-{ext}-predictions.npy"))).unwrap();
        let ours = predict_json(&dir.join(name), &dir.join(input));
        let difference = max_difference(&ours, &expected);
        assert!(difference <= 1e-4, "{name}: {difference}");
    }
    // Without --json, the tutorial's model says cat or dog for each input of the batch.
    let npy = dir.join("input-32.npy");
    let args = [
        "predict",
        path(&frozen),
        "--npy",
        path(&npy),
        "--precision",
        "fp32",
    ];
    let stdout = ok(&catsdogs(&args));
    let expected = Tensor::read_npy(dir.join("frozen-h5-predictions.npy")).unwrap();
    for (i, line) in stdout.lines().enumerate() {
        let dog = expected.double_value(&[i as i64, 0]);
        let class = if dog > 0.5 { "dog" } else { "cat" };
        let start = format!("{}[{i}]: {class} (dog probability ", npy.display());
        assert!(line.starts_with(&start), "{line}");
        let printed: f64 = line[start.len()..line.len() - 1].parse().unwrap();
        assert!((printed - dog).abs() <= 1e-4, "{line}");
    }
    // ... which the residual model, of three softmax units, cannot.
    let args = ["predict", path(&residual), "--npy", path(&small)];
    let error = refused(&catsdogs(&args));
    assert!(
        error.contains("is not a cat/dog model: it does not end in one sigmoid unit"),
        "{error}"
    );
    // A batch of the wrong size, and a file that is no .npy array.
    let args = ["predict", path(&residual), "--npy", path(&npy), "--json"];
    let error = refused(&catsdogs(&args));
    let expected = format!(
        "error: {} holds an array of shape [3, 32, 32, 3], where ",
        npy.display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(
        error.ends_with(
            " takes (images, 12, 12, 3) of float32: save the preprocessed batch in that shape"
        ),
        "{error}"
    );
    let args = [
        "predict",
        path(&residual),
        "--npy",
        path(&manifest),
        "--json",
    ];
    let error = refused(&catsdogs(&args));
    assert!(
        error.contains("it does not start as NumPy's .npy files do"),
        "{error}"
    );
}

#[test]
fn summary_counts_parameters_as_keras_does() {
    let file = fixtures().join("residual.keras");
    let counts = common::run_python(
        "import os, sys\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nimport numpy as np, keras\n\
         m = keras.models.load_model(sys.argv[1])\n\
         t = int(sum(np.prod(w.shape) for w in m.trainable_weights))\n\
         print(m.count_params(), t, m.count_params() - t)",
        &[path(&file)],
    );
    let counts: Vec<i64> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let stdout = ok(&catsdogs(&["summary", "--model", path(&file)]));
    for (label, count) in ["Total", "Trainable", "Non-trainable"].iter().zip(&counts) {
        let line = format!("{label} params: {count}\n");
        assert!(stdout.contains(&line), "{line} in\n{stdout}");
    }
    assert!(stdout.starts_with("Model: \""), "{stdout}");
    let out = catsdogs(&["summary", "--model", "no-such-thing"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
    assert!(
        stderr.contains("is neither a model file nor a network"),
        "{stderr}"
    );
}

#[test]
fn convert_model_goes_between_ours_and_keras_and_writes_only_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let keras = fixtures().join("residual.keras");
    let npy = fixtures().join("input-12.npy");
    let ours = dir.path().join("ours.safetensors");
    let back = dir.path().join("back.h5");
    ok(&catsdogs(&["convert-model", path(&keras), path(&ours)]));
    ok(&catsdogs(&["convert-model", path(&ours), path(&back)]));
    let expected = predict_json(&keras, &npy);
    for file in [&ours, &back] {
        assert_eq!(
            max_difference(&predict_json(file, &npy), &expected),
            0.0,
            "{}",
            file.display()
        );
    }
    // Never over what it did not write, nor over its input.
    let before = std::fs::read(&back).unwrap();
    let error = refused(&catsdogs(&["convert-model", path(&ours), path(&back)]));
    assert_eq!(
        error,
        format!(
            "error: {} exists already, and convert-model writes only new files: move it away or give another name",
            back.display()
        )
    );
    assert_eq!(std::fs::read(&back).unwrap(), before);
    let error = refused(&catsdogs(&["convert-model", path(&back), path(&back)]));
    assert!(error.contains("is the model that"), "{error}");
    let error = refused(&catsdogs(&[
        "convert-model",
        path(&ours),
        path(&dir.path().join("x.onnx")),
    ]));
    assert!(
        error.contains("Keras's model files end in .keras (Keras 3) or .h5 (Keras 2)"),
        "{error}"
    );
}
