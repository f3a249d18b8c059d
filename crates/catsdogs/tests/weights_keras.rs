//! Keras `.h5` weights: files written here with h5py in Keras 2's legacy `save_weights` layout,
//! loaded, and checked against computations made independently (a convolution by hand, the
//! variants of the layout, exact error messages, a round trip through safetensors).

mod common;
mod weights_files;

use weights_files::write_keras_h5;

use catsdogs::applications::Backbone;
use catsdogs::weights::{Format, Preprocess, Weights};
use tch::{Device, Kind, Tensor};

/// The "formula" value of element `i`, as `weights_files::KERAS_H5` computes it.
fn formula(i: usize) -> f32 {
    (((i * 7919) % 1000) as f64 / 1000.0 - 0.5) as f32
}

/// 3x3 'same' convolution plus ReLU by hand, NHWC input, HWIO kernel given by `kernel(index)`.
fn conv_relu_by_hand(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    filters: usize,
    kernel: impl Fn(usize) -> f32,
    bias: impl Fn(usize) -> f32,
) -> Vec<f32> {
    let mut out = vec![0f32; h * w * filters];
    for y in 0..h {
        for xx in 0..w {
            for o in 0..filters {
                let mut sum = bias(o) as f64;
                for dy in 0..3 {
                    for dx in 0..3 {
                        let (sy, sx) = (y as i64 + dy as i64 - 1, xx as i64 + dx as i64 - 1);
                        if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                            continue;
                        }
                        for i in 0..c {
                            let input = x[(sy as usize * w + sx as usize) * c + i] as f64;
                            sum += input * kernel(((dy * 3 + dx) * c + i) * filters + o) as f64;
                        }
                    }
                }
                out[(y * w + xx) * filters + o] = sum.max(0.0) as f32;
            }
        }
    }
    out
}

fn nhwc_values(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.permute([0, 2, 3, 1]).contiguous().flatten(0, -1)).unwrap()
}

fn assert_close(found: &[f32], expected: &[f32]) {
    assert_eq!(found.len(), expected.len());
    for (i, (a, b)) in found.iter().zip(expected).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "element {i}: {a} vs {b}"
        );
    }
}

#[test]
fn convolutions_match_a_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notop.h5");
    let path_str = path.to_str().unwrap();
    write_keras_h5(
        serde_json::json!({"path": path_str, "values": "formula", "last": "block1_pool"}),
    );
    // Only block 1 is in this file, so load it through the error path first...
    let error = Weights::load(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{path_str} has no weights for VGG16 layer block2_conv1 (kernel (3, 3, 64, 128) and \
             bias (128,))"
        )
    );
    // ...then with the whole base.
    write_keras_h5(serde_json::json!({"path": path_str, "values": "formula"}));
    let weights = Weights::load(&path).unwrap();
    assert_eq!(weights.format(), Format::KerasH5);
    assert_eq!(weights.preprocess(), Preprocess::Vgg16);
    assert!(!weights.has_top());
    assert_eq!(weights.names().count(), 26);
    let base = Backbone::Vgg16
        .application(false)
        .from_weights(&weights, Device::Cpu)
        .unwrap();

    let (h, w) = (5, 6);
    let x_nhwc: Vec<f32> = (0..h * w * 3).map(|i| formula(i * 31 + 7)).collect();
    let x = Tensor::from_slice(&x_nhwc)
        .reshape([1, h as i64, w as i64, 3])
        .permute([0, 3, 1, 2]);
    let conv1 = conv_relu_by_hand(&x_nhwc, (h, w, 3), 64, formula, |o| formula(1728 + o));
    let found = base.forward_to(&x, "block1_conv1").unwrap();
    assert_close(&nhwc_values(&found), &conv1);
    let offset = 1728 + 64;
    let conv2 = conv_relu_by_hand(
        &conv1,
        (h, w, 64),
        64,
        |i| formula(offset + i),
        |o| formula(offset + 36864 + o),
    );
    let found = base.forward_to(&x, "block1_conv2").unwrap();
    assert_close(&nhwc_values(&found), &conv2);
}

#[test]
fn every_variant_of_the_layout_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_keras_h5(serde_json::json!({"path": path("a.h5"), "values": "formula"}));
    write_keras_h5(serde_json::json!({
        "path": path("b.h5"), "values": "formula", "style": "kernel", "strings": "vlen",
        "wrapper": true
    }));
    let a = Weights::load(path("a.h5")).unwrap();
    let b = Weights::load(path("b.h5")).unwrap();
    assert!(a.names().eq(b.names()));
    for name in a.names() {
        assert_eq!(a.get(name), b.get(name), "{name}");
    }
    // Spot checks of the layout: OIHW kernels from HWIO, element (o, i, h, w) = HWIO (h, w, i, o).
    let kernel = a.get("block1_conv1/kernel").unwrap();
    assert_eq!(kernel.size(), [64, 3, 3, 3]);
    let (o, i, y, x) = (5, 2, 1, 0);
    assert_eq!(
        kernel.double_value(&[o, i, y, x]) as f32,
        formula(((y * 3 + x) * 3 + i) as usize * 64 + o as usize)
    );
    assert_eq!(a.get("block5_conv3/bias").unwrap().size(), [512]);
}

#[test]
fn misshapen_and_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.h5");
    let path_str = path.to_str().unwrap();
    write_keras_h5(serde_json::json!({
        "path": path_str, "values": "formula", "last": "block1_conv2",
        "shapes": {"block1_conv2": [3, 3, 32, 64]}
    }));
    assert_eq!(
        Weights::load(&path).unwrap_err().to_string(),
        format!(
            "{path_str}: VGG16 layer block1_conv2 needs kernel (block1_conv2_W_1:0 in the file) \
             of shape (3, 3, 64, 64) but the file has shape (3, 3, 32, 64)"
        )
    );

    common::run_python(
        "import h5py, sys\nwith h5py.File(sys.argv[1], 'w') as f: f['x'] = [1.0]",
        &[path_str],
    );
    assert_eq!(
        Weights::load(&path).unwrap_err().to_string(),
        format!(
            "{path_str} has no attribute layer_names, so it is not Keras HDF5 weights (or it \
             is damaged): save it again with Keras"
        )
    );

    std::fs::write(&path, b"just some text, long enough").unwrap();
    assert_eq!(
        Weights::load(&path).unwrap_err().to_string(),
        format!(
            "{path_str} is not a weights file that catsdogs reads: expected Keras .h5 (HDF5), \
             torchvision .pth (torch.save) or safetensors"
        )
    );
    let missing = dir.path().join("missing.h5");
    assert!(Weights::load(&missing)
        .unwrap_err()
        .to_string()
        .starts_with(&format!("cannot read {}: ", missing.display())));
}

#[test]
fn safetensors_round_trip_and_no_top() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("notop.h5");
    write_keras_h5(
        serde_json::json!({"path": h5.to_str().unwrap(), "values": "random", "seed": 1}),
    );
    let weights = Weights::load(&h5).unwrap();
    let converted = dir.path().join("notop.safetensors");
    weights.save(&converted).unwrap();
    let again = Weights::load(&converted).unwrap();
    assert_eq!(again.format(), Format::Safetensors);
    assert_eq!(again.preprocess(), Preprocess::Vgg16);
    assert!(weights.names().eq(again.names()));
    for name in weights.names() {
        assert_eq!(weights.get(name), again.get(name), "{name}");
    }
    let error = Backbone::Vgg16
        .application(true)
        .from_weights(&again, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "{} has no top (fc1, fc2, predictions): it is a notop file; build VGG16 \
             without its top (leave out --include-top, or include_top=false), or give the \
             weights file with the top (vgg16_weights_tf_dim_ordering_tf_kernels.h5)",
            converted.display()
        )
    );
    // The same network from either file.
    let a = Backbone::Vgg16
        .application(false)
        .load(&h5, Device::Cpu)
        .unwrap();
    let b = Backbone::Vgg16
        .application(false)
        .load(&converted, Device::Cpu)
        .unwrap();
    let x = Tensor::ones([1, 3, 32, 32], (Kind::Float, Device::Cpu));
    assert_eq!(a.forward(&x).unwrap(), b.forward(&x).unwrap());
}
