//! Grad-CAM computed independently with PyTorch's autograd and functional ops, from the weight
//! files themselves, as Keras's Grad-CAM example computes it: the reference that the crate's
//! maps are checked against.
//!
//! The reference computes in float64, so that it is the answer itself rather than another
//! float32 rounding of it. A map at a lower layer for an unlikely class can be ill-conditioned:
//! its ReLU'd sum cancels terms 30 times larger, and the layers after it have ReLUs whose kinks
//! a float32 rounding can cross. There, PyTorch's own float32 computation was measured 7e-3
//! from float64 (block4_conv3, ImageNet class 281, random weights), while ours was 1e-6 from it.
#![allow(dead_code)]

use super::common::run_python;

/// Argument: a JSON spec with `images` (files), `size` ([height, width] they are loaded at,
/// with Pillow's NEAREST and caffe preprocessing, as Keras's `load_img` and VGG16's
/// `preprocess_input`), `h5` (a Keras-layout VGG16 file, optional) and `safetensors` (a model
/// that catsdogs saved, optional; its layers override the h5's), and `cases`, each with `layer`,
/// `target` ("predicted" or a class index) and `npy` (where the maps go). With `fc1` among the
/// weights the model is VGG16 with Keras's top (Flatten over NHWC, softmax); otherwise the
/// tutorial's head (Flatten over NCHW as catsdogs saves it, Dropout off, Dense 256 ReLU, Dense 1
/// sigmoid). Prints one JSON line per case: classes, scores (logits), probabilities.
pub const REFERENCE_GRAD_CAM: &str = r#"
import json, sys
import numpy as np, torch
import torch.nn.functional as F
from PIL import Image

spec = json.loads(sys.argv[1])
height, width = spec["size"]
W = {}
if spec.get("h5"):
    import h5py
    with h5py.File(spec["h5"], "r") as f:
        text = lambda v: v.decode() if isinstance(v, bytes) else v
        for name in map(text, f.attrs["layer_names"]):
            names = list(map(text, f[name].attrs["weight_names"]))
            if names:
                kernel, bias = (np.array(f[name][n]) for n in names)
                if kernel.ndim == 4:
                    kernel = kernel.transpose(3, 2, 0, 1)  # HWIO to OIHW
                W[name + "/kernel"] = torch.from_numpy(np.ascontiguousarray(kernel))
                W[name + "/bias"] = torch.from_numpy(bias)
if spec.get("safetensors"):
    with open(spec["safetensors"], "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        data = f.read()
    for name, t in header.items():
        if name != "__metadata__":
            assert t["dtype"] == "F32", t
            start, end = t["data_offsets"]
            values = np.frombuffer(data[start:end], dtype="<f4").reshape(t["shape"])
            W[name] = torch.from_numpy(values.copy())

def load_img(path):
    x = np.asarray(Image.open(path).convert("RGB").resize((width, height), Image.NEAREST))
    return x.astype(np.float32)[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
x = torch.from_numpy(np.stack([load_img(p) for p in spec["images"]]).copy()).permute(0, 3, 1, 2)
# In float64: the answer that float32 rounding approaches (see the module's notes).
x, W = x.double(), {name: w.double() for name, w in W.items()}

conv = lambda n: lambda x: F.relu(F.conv2d(x, W[n + "/kernel"], W[n + "/bias"], padding=1))
dense = lambda n, act: lambda x: act(x @ W[n + "/kernel"] + W[n + "/bias"])
layers = []
for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
    for c in range(1, convs + 1):
        layers.append(("block%d_conv%d" % (block, c), conv("block%d_conv%d" % (block, c))))
    layers.append(("block%d_pool" % block, lambda x: F.max_pool2d(x, 2)))
if "fc1/kernel" in W:
    layers += [("flatten", lambda x: x.permute(0, 2, 3, 1).reshape(len(x), -1)),
               ("fc1", dense("fc1", F.relu)), ("fc2", dense("fc2", F.relu))]
    last, final = "predictions", lambda z: F.softmax(z, 1)
else:
    layers += [("flatten_1", lambda x: x.reshape(len(x), -1)), ("dense_1", dense("dense_1", F.relu))]
    last, final = "dense_2", torch.sigmoid

for case in spec["cases"]:
    chosen = [name for name, _ in layers].index(case["layer"])
    with torch.no_grad():
        a = x
        for _, f in layers[:chosen + 1]:
            a = f(a)
    a.requires_grad_(True)
    y = a
    for _, f in layers[chosen + 1:]:
        y = f(y)
    z = y @ W[last + "/kernel"] + W[last + "/bias"]
    p = final(z)
    target = case["target"]
    if z.shape[1] == 1:
        classes = [int(v > 0.5) for v in p[:, 0].tolist()] if target == "predicted" else [target] * len(z)
        scores = z[:, 0] * torch.tensor([1.0 if c == 1 else -1.0 for c in classes])
    else:
        classes = p.argmax(1).tolist() if target == "predicted" else [target] * len(z)
        scores = z[torch.arange(len(z)), classes]
    (g,) = torch.autograd.grad(scores.sum(), a)
    cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1))
    cam = cam / cam.amax((1, 2), keepdim=True)
    np.save(case["npy"], cam.detach().float().numpy())
    print(json.dumps({"classes": classes, "scores": scores.tolist(), "probabilities": p.tolist()}))
"#;

/// What the reference found for one case.
#[derive(Debug)]
pub struct Reference {
    /// The class each map explains.
    pub classes: Vec<usize>,
    /// The logits explained.
    pub scores: Vec<f32>,
    /// The model's output, one row per image.
    pub probabilities: Vec<Vec<f32>>,
}

/// Runs the reference on `spec` (see [`REFERENCE_GRAD_CAM`]): one [`Reference`] per case.
pub fn reference(spec: &serde_json::Value) -> Vec<Reference> {
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        let numbers = v.as_array().expect("a list");
        numbers.iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    run_python(REFERENCE_GRAD_CAM, &[&spec.to_string()])
        .lines()
        .map(|line| {
            let case: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let classes = case["classes"].as_array().expect("a list");
            Reference {
                classes: classes
                    .iter()
                    .map(|c| c.as_u64().unwrap() as usize)
                    .collect(),
                scores: floats(&case["scores"]),
                probabilities: case["probabilities"]
                    .as_array()
                    .expect("a list")
                    .iter()
                    .map(floats)
                    .collect(),
            }
        })
        .collect()
}

/// Writes two test images with Pillow: `a.jpg`, 300x200 noise, and `b.png`, 224x224 stripes.
pub fn write_images(dir: &std::path::Path) -> [String; 2] {
    let [a, b] = ["a.jpg", "b.png"].map(|n| dir.join(n).to_str().unwrap().to_string());
    run_python(
        r#"
import sys, numpy as np
from PIL import Image
rng = np.random.default_rng(0)
Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(sys.argv[1], quality=90)
y, x = np.mgrid[0:224, 0:224]
a = np.stack([(x + y) % 256, (x * 3) % 256, (y * 2) % 256], -1).astype(np.uint8)
Image.fromarray(a).save(sys.argv[2])
"#,
        &[&a, &b],
    );
    [a, b]
}

/// The largest absolute difference between a `.npy` file and `values` of `shape`, read with
/// numpy.
pub fn npy_distance(npy: &str, shape: &[i64], values: &[f32]) -> f64 {
    let out = run_python(
        "import json, sys, numpy as np\na = np.load(sys.argv[1])\n\
         b = np.array(json.loads(sys.argv[2]), np.float32).reshape(json.loads(sys.argv[3]))\n\
         assert a.shape == b.shape and a.dtype == np.float32, (a.shape, a.dtype)\n\
         print(float(np.abs(a - b).max()) if a.size else 0.0)",
        &[
            npy,
            &serde_json::to_string(values).unwrap(),
            &serde_json::to_string(shape).unwrap(),
        ],
    );
    out.trim().parse().unwrap()
}
