//! `apply_transform` against Keras's own (`keras.src.legacy.preprocessing.image`, which runs
//! `scipy.ndimage.affine_transform` and Pillow's `ImageEnhance.Brightness`): Keras loads odd,
//! non-square images with `load_img` (a PNG as it is, a JPEG resized to a target size, and a
//! 3x2 one), and transforms them with every parameter, in every fill mode. Ours must agree
//! within 0.01 on the 0-255 scale, and within one 8-bit step where the brightness changes.
//!
//! Keras runs on its torch backend in the project's venv (it needs scipy, which the bench's
//! TensorFlow venv lacks), once per machine: the references are kept in
//! `$CATSDOGS_CACHE/test-references` (about 2 MB) and made again only when the script changes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use catsdogs::data::{
    img_to_array, load_img, FillMode, ImageDataGenerator, Preprocess, TransformParams,
};
use ndarray::Array3;

/// Makes the images and Keras's transforms of them in the folder given as the first argument,
/// and `report.json`: the images, and per case its image, fill mode, cval and parameters.
const KERAS_AUGMENT: &str = r#"
import json, os, sys
os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np
from PIL import Image
from keras.src.legacy.preprocessing.image import ImageDataGenerator
from keras.utils import img_to_array, load_img
out = sys.argv[1]
rng = np.random.default_rng(20)

def photo(h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 90 * np.sin(x / (3 + c) + c) * np.cos(y / (4 + 2 * c)) for c in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    img[h // 4:h // 2, w // 3:w // 2] = [230, 20, 90]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

images = {"png": ("a.png", None), "jpeg": ("b.jpg", [41, 29]), "tiny": ("c.png", None)}
photo(23, 37).save(os.path.join(out, "a.png"))
photo(60, 50).save(os.path.join(out, "b.jpg"), quality=90)
photo(3, 2).save(os.path.join(out, "c.png"))

geometric = {
    "rotate": {"theta": 23.0},
    "shift": {"tx": 5.5, "ty": -7.25},
    "shift-far": {"tx": 61.3, "ty": -50.7},
    "shear": {"shear": 17.0},
    "zoom": {"zx": 0.7, "zy": 1.3},
    "zoom-out": {"zx": 2.6, "zy": 3.1},
    "all": {"theta": -35.0, "tx": -3.0, "ty": 4.0, "shear": -12.0, "zx": 1.25, "zy": 0.8,
            "flip_horizontal": True},
}
colour = {
    "flips": {"flip_horizontal": True, "flip_vertical": True},
    "channel-shift-up": {"theta": 11.0, "channel_shift_intensity": 40.0},
    "channel-shift-down": {"theta": 11.0, "channel_shift_intensity": -70.5},
    "brightness-dim": {"theta": 9.0, "brightness": 0.6},
    "brightness-bright": {"theta": 9.0, "brightness": 1.4},
    "brightness-black": {"brightness": 0.0},
    "everything": {"theta": 30.0, "tx": 2.0, "ty": -3.5, "shear": 8.0, "zx": 0.9, "zy": 1.1,
                   "flip_horizontal": True, "flip_vertical": True,
                   "channel_shift_intensity": 25.0, "brightness": 1.2},
}
modes = [("nearest", 0.0), ("constant", 37.5), ("reflect", 0.0), ("wrap", 0.0)]
cases = []
for image in images:
    for mode, cval in modes:
        for name, params in geometric.items():
            cases.append((image, mode, cval, name, params))
    for name, params in colour.items():
        cases.append((image, "nearest", 0.0, name, params))
    # Brightness on values outside 0-255 (Keras scales them to 0-255 and back).
    for cval in (300.0, -20.0):
        cases.append((image, "constant", cval, "brightness-scaled", {"zx": 1.4, "zy": 1.2, "brightness": 0.7}))

report = {"images": {k: list(v) for k, v in images.items()}, "cases": []}
for image, (file, size) in images.items():
    x = img_to_array(load_img(os.path.join(out, file), target_size=size))
    np.save(os.path.join(out, image + ".npy"), x)
for i, (image, mode, cval, name, params) in enumerate(cases):
    file, size = images[image]
    x = img_to_array(load_img(os.path.join(out, file), target_size=size))
    y = ImageDataGenerator(fill_mode=mode, cval=cval).apply_transform(x, params)
    np.save(os.path.join(out, "case-%d.npy" % i), np.asarray(y, dtype=np.float32))
    report["cases"].append({"image": image, "fill_mode": mode, "cval": cval, "name": name,
                            "params": params})
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f)
"#;

/// A float32 (H, W, C) `.npy` that NumPy wrote.
fn read_npy(path: &Path) -> Array3<f32> {
    let t = tch::Tensor::read_npy(path).unwrap();
    let dims: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
    Array3::from_shape_vec((dims[0], dims[1], dims[2]), values).unwrap()
}

#[test]
fn apply_transform_equals_keras_in_every_fill_mode() {
    let dir = common::cached_references("augment", &common::venv_python(), KERAS_AUGMENT, &[]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    // Our load_img gives Keras's arrays exactly.
    let mut arrays = BTreeMap::new();
    for (image, spec) in report["images"].as_object().unwrap() {
        let file = dir.join(spec[0].as_str().unwrap());
        let size = spec[1]
            .as_array()
            .map(|s| (s[0].as_u64().unwrap() as u32, s[1].as_u64().unwrap() as u32));
        let x = img_to_array(&load_img(&file, size).unwrap());
        assert_eq!(
            x,
            read_npy(&dir.join(format!("{image}.npy"))),
            "load_img of {image}"
        );
        arrays.insert(image.clone(), x);
    }
    let mut worst: BTreeMap<String, f32> = BTreeMap::new();
    let cases = report["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let params: TransformParams = serde_json::from_value(case["params"].clone()).unwrap();
        let mode: FillMode = case["fill_mode"].as_str().unwrap().parse().unwrap();
        let cval = case["cval"].as_f64().unwrap();
        let image = case["image"].as_str().unwrap();
        let datagen = ImageDataGenerator::new(Preprocess::None)
            .fill_mode(mode)
            .cval(cval);
        let ours = datagen
            .apply_transform(arrays[image].clone(), &params)
            .unwrap();
        let theirs = read_npy(&dir.join(format!("case-{i}.npy")));
        assert_eq!(ours.dim(), theirs.dim());
        let diff = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let name = case["name"].as_str().unwrap();
        // Pillow's brightness truncates to 8 bits, so a value a hair below an integer in one
        // and at it in the other differs by one step there.
        let tolerance = if params.brightness.is_some() {
            1.0 + 1e-3
        } else {
            0.01
        };
        assert!(
            diff <= tolerance,
            "{name} on {image}, fill_mode {mode}, cval {cval}: max |ours - Keras| = {diff}"
        );
        let kind = if params.brightness.is_some() {
            "brightness"
        } else {
            "other"
        };
        let entry = worst.entry(format!("{mode} ({kind})")).or_default();
        *entry = entry.max(diff);
    }
    assert_eq!(cases.len(), 3 * (4 * 7 + 7 + 2));
    for (what, diff) in &worst {
        eprintln!("{what}: max |ours - Keras| = {diff:.2e}");
    }
}
