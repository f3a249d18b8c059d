//! Weight files for the tests, written with the peers' own tools through the venv's Python:
//! Keras-layout `.h5` with h5py, torchvision state dicts with `torch.save`.
#![allow(dead_code)]

use super::common::run_python;

/// Writes a VGG16 weights file in Keras's legacy layout. Argument: a JSON spec with
/// `path`, `top`, `values` ("formula": value of element i over the whole file in write order is
/// ((i * 7919) % 1000) / 1000 - 0.5; or "random" with `seed`: normal, with He's standard
/// deviation times `scale`), `style` ("W_1" as in the official
/// files, or "kernel" as Keras 2 names them, nested `layer/kernel:0`), `strings` ("fixed" or
/// "vlen"), `wrapper` (under `model_weights` as `model.save` does), `last` (stop after this
/// layer) and `shapes` ({"layer": [kernel shape]} to write a wrong shape).
pub const KERAS_H5: &str = r#"
import json, sys
import h5py, numpy as np
spec = json.loads(sys.argv[1])
layers = [("input_1", None)]
channels = 3
for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
    for conv in range(1, convs + 1):
        layers.append(("block%d_conv%d" % (block, conv), (3, 3, channels, filters)))
        channels = filters
    layers.append(("block%d_pool" % block, None))
if spec.get("top"):
    layers += [("flatten", None), ("fc1", (25088, 4096)), ("fc2", (4096, 4096)),
               ("predictions", (4096, 1000))]
if spec.get("last"):
    layers = layers[:[name for name, _ in layers].index(spec["last"]) + 1]
rng = np.random.default_rng(spec.get("seed", 0))
written = 0
def values(shape, fan_in):
    global written
    n = int(np.prod(shape))
    if spec["values"] == "formula":
        i = np.arange(written, written + n, dtype=np.int64)
        v = ((i * 7919) % 1000) / 1000.0 - 0.5
        written += n
        return v.astype(np.float32).reshape(shape)
    std = spec.get("scale", 1.0) * np.sqrt(2.0 / fan_in)
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
def strings(names):
    if spec.get("strings") == "vlen":
        return np.array(names, dtype=h5py.string_dtype())
    return np.array([n.encode("utf8") for n in names]) if names else np.asarray([])
with h5py.File(spec["path"], "w") as f:
    root = f.create_group("model_weights") if spec.get("wrapper") else f
    root.attrs["layer_names"] = strings([name for name, _ in layers])
    root.attrs["backend"] = b"tensorflow"
    root.attrs["keras_version"] = b"2.2.4"
    for name, shape in layers:
        g = root.create_group(name)
        if shape is None:
            g.attrs["weight_names"] = strings([])
            continue
        shape = tuple(spec.get("shapes", {}).get(name, shape))
        if spec.get("style") == "kernel":
            names = ["%s/kernel:0" % name, "%s/bias:0" % name]
        else:
            names = ["%s_W_1:0" % name, "%s_b_1:0" % name]
        g.attrs["weight_names"] = strings(names)
        fan_in = int(np.prod(shape[:-1]))
        g.create_dataset(names[0], data=values(shape, fan_in))
        g.create_dataset(names[1], data=values((shape[-1],), fan_in))
"#;

pub fn write_keras_h5(spec: serde_json::Value) {
    run_python(KERAS_H5, &[&spec.to_string()]);
}

/// Converts a Keras-layout `.h5` (argument 1) into a torchvision VGG16 state dict (argument 2)
/// with the same numbers: conv kernels HWIO to OIHW, dense kernels transposed to (out, in), and
/// fc1's inputs reordered from Keras's NHWC flattening to torchvision's NCHW. Argument 3: "zip"
/// (torch.save's format) or "legacy" (`_use_new_zipfile_serialization=False`, as torchvision's
/// own file); argument 4: "wrap" to save `{"state_dict": ...}`. Some tensors are saved as
/// non-contiguous views and some biases at an offset in a larger storage, as torch.save allows.
pub const TORCHVISION_FROM_H5: &str = r#"
import collections, sys
import h5py, numpy as np, torch
src, dst, fmt, wrap = sys.argv[1:5]
def text(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]
sd = collections.OrderedDict()
with h5py.File(src, "r") as f:
    feature = classifier = convs = 0
    for name in text(f.attrs["layer_names"]):
        g = f[name]
        names = text(g.attrs["weight_names"])
        if "_conv" in name:
            kernel, bias = np.array(g[names[0]]), np.array(g[names[1]])
            weight = torch.from_numpy(kernel).permute(3, 2, 0, 1)
            if convs % 2:
                weight = weight.contiguous()
            convs += 1
            sd["features.%d.weight" % feature] = weight
            sd["features.%d.bias" % feature] = torch.from_numpy(bias)
            feature += 2
        elif name.endswith("_pool"):
            feature += 1
        elif name in ("fc1", "fc2", "predictions"):
            kernel, bias = np.array(g[names[0]]), np.array(g[names[1]])
            if name == "fc1":
                kernel = kernel.reshape(7, 7, 512, -1).transpose(2, 0, 1, 3).reshape(25088, -1)
            weight = torch.from_numpy(np.ascontiguousarray(kernel)).t()
            if name != "fc2":
                weight = weight.contiguous()
            sd["classifier.%d.weight" % classifier] = weight
            sd["classifier.%d.bias" % classifier] = torch.cat([torch.zeros(3), torch.from_numpy(bias)])[3:]
            classifier += 3
torch.save({"state_dict": sd} if wrap == "wrap" else sd, dst,
           _use_new_zipfile_serialization=(fmt == "zip"))
"#;

/// Writes the torchvision state dict of the Keras-layout file `h5` to `pth`.
pub fn write_torchvision(h5: &str, pth: &str, format: &str, wrap: bool) {
    let wrap = if wrap { "wrap" } else { "plain" };
    run_python(TORCHVISION_FROM_H5, &[h5, pth, format, wrap]);
}
