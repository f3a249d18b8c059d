//! `catsdogs explain`: the overlays, the printed predictions and the raw maps, against Grad-CAM
//! computed independently with PyTorch from the same weight files; and its refusals.

mod cli;
#[path = "../../catsdogs/tests/common/mod.rs"]
mod common;
#[path = "../../catsdogs/tests/gradcam_reference/mod.rs"]
mod gradcam_reference;
#[path = "../../catsdogs/tests/weights_files/mod.rs"]
mod weights_files;

use cli::{catsdogs, ok, path, refused};
use gradcam_reference::{reference, write_images};

/// The shape and the values of a float32 `.npy` file, read with numpy.
fn read_npy(npy: &str) -> (Vec<i64>, Vec<f32>) {
    let out = common::run_python(
        "import json, sys, numpy as np\na = np.load(sys.argv[1])\nassert a.dtype == np.float32\n\
         print(json.dumps([list(a.shape), a.ravel().tolist()]))",
        &[npy],
    );
    serde_json::from_str(&out).unwrap()
}

/// The largest absolute difference between two `.npy` files of the same shape.
fn distance(a: &str, b: &str) -> f64 {
    let (shape_a, a) = read_npy(a);
    let (shape_b, b) = read_npy(b);
    assert_eq!(shape_a, shape_b);
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .fold(0.0, f64::max);
    eprintln!("{shape_a:?}: the maps are {d:.1e} from PyTorch's at most");
    d
}

/// The width and height of a PNG file.
fn png_size(file: &str) -> (u32, u32) {
    let image = catsdogs::image::open(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    (image.width(), image.height())
}

#[test]
fn imagenet_maps_match_pytorch_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    weights_files::write_keras_h5(serde_json::json!({
        "path": p("top.h5"), "top": true, "values": "random", "seed": 4, "scale": 0.8
    }));
    let [a, b] = write_images(dir.path());
    let expected = reference(&serde_json::json!({
        "images": [a, b], "size": [224, 224], "h5": p("top.h5"), "cases": [
            {"layer": "block5_conv3", "target": "predicted", "npy": p("top1.npy")},
            {"layer": "block4_conv3", "target": 281, "npy": p("tabby.npy")},
        ],
    }));

    let stdout = ok(&catsdogs(&[
        "explain",
        &a,
        &b,
        "--weights",
        &p("top.h5"),
        "--out",
        &p("out"),
        "--npy",
        &p("maps.npy"),
    ]));
    let (shape, _) = read_npy(&p("maps.npy"));
    assert_eq!(shape, [2, 14, 14]);
    let d = distance(&p("maps.npy"), &p("top1.npy"));
    assert!(d < 1e-4, "the maps differ from PyTorch's by {d}");
    let index = catsdogs::imagenet::class_index();
    let lines = results(&stdout);
    assert_eq!(lines.len(), 2, "{stdout}");
    for (i, (line, image)) in lines.iter().zip([&a, &b]).enumerate() {
        let class = expected[0].classes[i];
        let name = &index[class].1;
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(
            words[..2],
            [format!("{image}:").as_str(), name.as_str()],
            "{line}"
        );
        let printed: f32 = words[2].parse().unwrap();
        assert!(
            (printed - expected[0].probabilities[i][class]).abs() < 2e-4,
            "{line}"
        );
        let explained = format!(" (class {class}); Grad-CAM of {name} at block5_conv3: ");
        assert!(line.contains(&explained), "{line}");
        let overlay = p(&format!("out/{}-gradcam.png", ["a", "b"][i]));
        assert!(line.ends_with(&overlay), "{line}");
    }
    assert_eq!(png_size(&p("out/a-gradcam.png")), (300, 200));
    assert_eq!(png_size(&p("out/b-gradcam.png")), (224, 224));

    let stdout = ok(&catsdogs(&[
        "explain",
        &a,
        &b,
        "--weights",
        &p("top.h5"),
        "--out",
        &p("out2"),
        "--layer",
        "block4_conv3",
        "--class",
        "281",
        "--colormap",
        "viridis",
        "--opacity",
        "0.6",
        "--npy",
        &p("maps2.npy"),
    ]));
    assert_eq!(read_npy(&p("maps2.npy")).0, [2, 28, 28]);
    let d = distance(&p("maps2.npy"), &p("tabby.npy"));
    assert!(d < 1e-4, "the maps differ from PyTorch's by {d}");
    assert_eq!(
        stdout
            .matches("Grad-CAM of tabby at block4_conv3: ")
            .count(),
        2
    );

    let (weights, out) = (p("top.h5"), p("out3"));
    let refusal = |args: &[&str]| {
        let mut all = vec!["explain", a.as_str(), "--weights", &weights, "--out", &out];
        all.extend_from_slice(args);
        refused(&catsdogs(&all))
    };
    assert_eq!(
        refusal(&["--class", "1000"]),
        "error: class index 1000 is out of range: vgg16 has 1000 classes, so give --class \
         (Target::Class) an index from 0 to 999"
    );
    assert_eq!(
        refusal(&["--layer", "fc2"]),
        "error: fc2 is not a convolutional layer of vgg16 (a Dense layer): Grad-CAM explains a \
         convolution's output, so give --layer (GradCam::new) one of block1_conv1, block1_conv2, \
         block2_conv1, block2_conv2, block3_conv1, block3_conv2, block3_conv3, block4_conv1, \
         block4_conv2, block4_conv3, block5_conv1, block5_conv2, block5_conv3 (block5_conv3, \
         the last, is the usual choice)"
    );
    assert_eq!(
        refusal(&["--opacity", "1.5"]),
        "error: opacity 1.5 is outside 0 to 1: give --opacity (GradCam::opacity) a fraction \
         such as 0.4"
    );
}

#[test]
fn a_trained_run_explains_the_dog_and_matches_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = cli::sample_split(dir.path(), 10, [12, 4, 4]);
    let run = dir.path().join("run");
    ok(&catsdogs(&cli::train_args(&data, &run)));
    let images: Vec<String> = ["test/cats", "test/dogs"]
        .iter()
        .map(|folder| {
            let entry = std::fs::read_dir(data.join(folder))
                .unwrap()
                .next()
                .unwrap();
            entry.unwrap().path().to_str().unwrap().to_string()
        })
        .collect();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let expected = reference(&serde_json::json!({
        "images": images, "size": [32, 32], "safetensors": p("run/model.safetensors"), "cases": [
            {"layer": "block5_conv3", "target": 1, "npy": p("dog.npy")},
            {"layer": "block5_conv3", "target": 0, "npy": p("cat.npy")},
        ],
    }));
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", &images[0], &images[1], "--model", path(&run)];
        args.extend(["--out", path(dir.path())]);
        args.extend_from_slice(extra);
        catsdogs(&args)
    };
    let stdout = ok(&explain(&["--npy", &p("maps.npy")]));
    assert_eq!(read_npy(&p("maps.npy")).0, [2, 2, 2]);
    let d = distance(&p("maps.npy"), &p("dog.npy"));
    assert!(d < 1e-4, "the maps differ from PyTorch's by {d}");
    let lines = results(&stdout);
    assert_eq!(lines.len(), expected[0].probabilities.len(), "{stdout}");
    for (line, probabilities) in lines.iter().zip(&expected[0].probabilities) {
        let dog = probabilities[0];
        let answer = if dog > 0.5 { "dog" } else { "cat" };
        let printed =
            format!("{answer} (dog probability {dog:.4}); Grad-CAM of dog at block5_conv3: ");
        assert!(line.contains(&printed), "{line} lacks {printed}");
    }
    let stdout = ok(&explain(&["--npy", &p("cats.npy"), "--class", "0"]));
    assert_eq!(stdout.matches("Grad-CAM of cat at block5_conv3").count(), 2);
    let d = distance(&p("cats.npy"), &p("cat.npy"));
    assert!(d < 1e-4, "the maps differ from PyTorch's by {d}");

    assert_eq!(
        refused(&explain(&["--class", "2"])),
        "error: class index 2 is out of range: sequential_1 has 2 classes, so give --class \
         (Target::Class) an index from 0 to 1 (0 is cat, 1 is dog)"
    );
    assert!(refused(&explain(&["--layer", "dense_1"])).starts_with(
        "error: dense_1 is not a convolutional layer of sequential_1 (a Dense layer)"
    ));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(
        refused(&catsdogs(&[
            "explain",
            &images[0],
            "--model",
            path(&empty),
            "--out",
            &p("o")
        ])),
        format!(
            "error: {} holds no trained model (model.safetensors): train one there first \
             (`catsdogs train --out FOLDER`, or notebook 02-feature-extraction or \
             03-fine-tuning), or give the run folder of a finished run",
            empty.display()
        )
    );
}

/// The result lines of `explain`'s output: all but Keras's progress line, which ends the pass
/// over the images (`1/1 [====...====] - 1s 522ms/step`).
fn results(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| !line.contains(" [=============================="))
        .collect()
}
