//! Grad-CAM: the maps against an independent computation in PyTorch from the same weight files,
//! a model small enough that the map is known exactly, the figure, and the errors.

mod common;
mod gradcam_reference;
mod weights_files;

use std::sync::Mutex;

use catsdogs::applications::Backbone;
use catsdogs::data::Preprocess;
use catsdogs::experiments::Experiment;
use catsdogs::gradcam::{GradCam, Target};
use catsdogs::model::{Activation, Conv2d, Dense, Flatten, Layer, Model};
use catsdogs::train::load_images;
use catsdogs::weights::Weights;
use gradcam_reference::{npy_distance, reference, write_images};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

/// libtorch's random generator is one for the process: seeded uses hold this lock.
fn random<T>(f: impl FnOnce() -> T) -> T {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.flatten(0, -1)).unwrap()
}

/// Asserts that `found` is `expected` within 1e-6 (the convolutions may round).
fn assert_close(found: &[f32], expected: &[f32]) {
    assert_eq!(found.len(), expected.len());
    let worst = found
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-6, "{found:?} vs {expected:?}");
}

/// The tutorial's fine-tune model (block5 and the head trainable) on a VGG16 base read from a
/// Keras-layout file, for 64x64 images.
fn cat_dog_model(h5: &str) -> Model {
    let base = Backbone::Vgg16
        .application(false)
        .input_size(64, 64)
        .from_weights(&Weights::load(h5).unwrap(), CPU)
        .unwrap();
    random(|| {
        tch::manual_seed(7);
        Experiment::Finetune.model(base).unwrap()
    })
}

#[test]
fn maps_match_pytorch_on_a_cat_dog_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    weights_files::write_keras_h5(serde_json::json!({
        "path": path("notop.h5"), "values": "random", "seed": 3, "scale": 0.8
    }));
    let model = cat_dog_model(&path("notop.h5"));
    model.save(path("model.safetensors")).unwrap();
    let images = write_images(dir.path());
    let x = load_images(&images, (64, 64), Preprocess::Vgg16).unwrap();
    let cases = [
        ("block5_conv3", Target::Predicted, "predicted"),
        ("block5_conv3", Target::Class(1), "1"),
        ("block5_conv3", Target::Class(0), "0"),
        ("block4_conv1", Target::Class(1), "1"),
    ];
    let spec_cases: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (layer, _, target))| {
            let target: serde_json::Value =
                serde_json::from_str(target).unwrap_or_else(|_| serde_json::Value::from(*target));
            serde_json::json!({"layer": layer, "target": target, "npy": path(&format!("{i}.npy"))})
        })
        .collect();
    let expected = reference(&serde_json::json!({
        "images": images, "size": [64, 64], "h5": path("notop.h5"),
        "safetensors": path("model.safetensors"), "cases": spec_cases,
    }));
    let trainable_before: Vec<bool> = model.layers().iter().map(Layer::trainable).collect();
    let mut maps = Vec::new();
    for (i, ((layer, target, _), expected)) in cases.iter().zip(&expected).enumerate() {
        let found = GradCam::new(*layer)
            .target(*target)
            .explain(&model, &x)
            .unwrap();
        let side = if *layer == "block5_conv3" { 4 } else { 8 };
        assert_eq!(found.maps.size(), [2, side, side]);
        let distance = npy_distance(
            &path(&format!("{i}.npy")),
            &found.maps.size(),
            &values(&found.maps),
        );
        eprintln!("{layer} {target:?}: the maps are {distance:.1e} from PyTorch's at most");
        assert!(
            distance < 1e-4,
            "{layer} {target:?}: maps differ by {distance}"
        );
        assert_eq!(found.classes, expected.classes, "{layer} {target:?}");
        for (a, b) in found.scores.iter().zip(&expected.scores) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
        }
        let dog: Vec<f32> = expected.probabilities.iter().map(|p| p[0]).collect();
        for (a, b) in values(&found.probabilities).iter().zip(&dog) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        maps.push(found.maps);
    }
    // The dog's map and the cat's are the positive and the negative part of one weighted sum:
    // where one is positive, the other is 0, and each image has one that is not all 0.
    let (dog, cat) = (values(&maps[1]), values(&maps[2]));
    assert!(dog.iter().zip(&cat).all(|(d, c)| *d == 0.0 || *c == 0.0));
    for image in 0..2 {
        let max = |m: &[f32]| {
            m[image * 16..(image + 1) * 16]
                .iter()
                .cloned()
                .fold(0.0, f32::max)
        };
        assert_eq!(max(&dog).max(max(&cat)), 1.0);
    }
    // No weight got a gradient, trainable or not, and the flags are as they were.
    for layer in model.layers() {
        for weight in layer.weights() {
            assert!(!weight.grad().defined(), "{} got a gradient", layer.name());
        }
    }
    let trainable_after: Vec<bool> = model.layers().iter().map(Layer::trainable).collect();
    assert_eq!(trainable_after, trainable_before);
}

/// A model of three layers whose Grad-CAM is known exactly: a convolution that copies input
/// channels 0 and 1 into its two channels (channel 2 is read by nothing), and one sigmoid unit
/// whose logit is 0.5 x the sum of channel 0 minus 0.25 x the sum of channel 1.
fn tiny() -> Model {
    let kernel = Tensor::zeros([2, 3, 3, 3], (Kind::Float, CPU));
    let _ = kernel.get(0).get(0).get(1).get(1).fill_(1.0);
    let _ = kernel.get(1).get(1).get(1).get(1).fill_(1.0);
    let conv = Conv2d::vgg(3, 2, Activation::Linear);
    let weights = Tensor::cat(
        &[
            Tensor::full([64, 1], 0.5, (Kind::Float, CPU)),
            Tensor::full([64, 1], -0.25, (Kind::Float, CPU)),
        ],
        0,
    );
    let dense = Dense {
        inputs: 128,
        units: 1,
        activation: Activation::Sigmoid,
    };
    let zeros = |n: i64| Tensor::zeros([n], (Kind::Float, CPU));
    let layers = vec![
        Layer::with_weights("conv", conv, vec![kernel, zeros(2)]).unwrap(),
        Layer::with_weights("flatten", Flatten {}, vec![]).unwrap(),
        Layer::with_weights("score", dense, vec![weights, zeros(1)]).unwrap(),
    ];
    Model::new("the tiny model", vec![3, 8, 8], layers).unwrap()
}

/// 1 on rows `rows` and columns `columns` of an 8x8 map, 0 elsewhere.
fn square(rows: std::ops::Range<usize>, columns: std::ops::Range<usize>) -> Vec<f32> {
    (0..64)
        .map(|i| f32::from(rows.contains(&(i / 8)) && columns.contains(&(i % 8))))
        .collect()
}

#[test]
fn a_known_answer_where_only_one_region_can_matter() {
    // Channel 0 is 2 on a 3x3 square at the top right (the only evidence for "dog"), channel 1
    // is 3 on a 4x4 square at the bottom left (evidence against), channel 2 is noise that
    // nothing reads.
    let dog_region = square(1..4, 5..8);
    let cat_region = square(4..8, 0..4);
    let x = Tensor::stack(
        &[
            Tensor::from_slice(&dog_region).view([8, 8]) * 2.0,
            Tensor::from_slice(&cat_region).view([8, 8]) * 3.0,
            random(|| Tensor::randn([8, 8], (Kind::Float, CPU))) * 100.0,
        ],
        0,
    )
    .unsqueeze(0);
    let tiny = tiny();
    // The dog's score 0.5 x 2 x 9 - 0.25 x 3 x 16 = -3: the model says cat.
    let dog = GradCam::new("conv")
        .target(Target::Class(1))
        .explain(&tiny, &x)
        .unwrap();
    assert_close(&dog.scores, &[-3.0]);
    assert_close(&values(&dog.maps), &dog_region);
    assert_eq!(dog.class_name(0), "dog");
    // The model says cat, whose score is the dog's negated: the map is the other square.
    let predicted = GradCam::new("conv").explain(&tiny, &x).unwrap();
    assert_eq!(predicted.classes, [0]);
    assert_close(&predicted.scores, &[3.0]);
    assert_close(&values(&predicted.maps), &cat_region);
    let (class, probability) = predicted.prediction(0).unwrap();
    assert_eq!(class, 0);
    assert_close(&[probability], &[1.0 - 1.0 / (1.0 + 3f32.exp())]);
    // With no evidence at all the map is 0, not NaN.
    let blank = Tensor::zeros([1, 3, 8, 8], (Kind::Float, CPU));
    let none = GradCam::new("conv")
        .target(Target::Class(1))
        .explain(&tiny, &blank)
        .unwrap();
    assert_eq!(values(&none.maps), vec![0.0; 64]);
}

#[test]
fn errors_name_the_layer_or_class_and_say_what_to_do() {
    let tiny = tiny();
    let x = Tensor::zeros([1, 3, 8, 8], (Kind::Float, CPU));
    let error = |cam: GradCam| cam.explain(&tiny, &x).unwrap_err().to_string();
    assert_eq!(
        error(GradCam::new("flatten")),
        "flatten is not a convolutional layer of the tiny model (a Flatten layer): Grad-CAM \
         explains a convolution's output, so give --layer (GradCam::new) one of conv (conv, the \
         last, is the usual choice)"
    );
    assert!(error(GradCam::new("conv9")).contains("(it has no layer of that name)"));
    assert_eq!(
        error(GradCam::new("conv").target(Target::Class(2))),
        "class index 2 is out of range: the tiny model has 2 classes, so give --class \
         (Target::Class) an index from 0 to 1 (0 is cat, 1 is dog)"
    );
    let notop = random(|| {
        Backbone::Vgg16
            .application(false)
            .input_size(32, 32)
            .build(CPU)
            .unwrap()
    });
    let x = Tensor::zeros([1, 3, 32, 32], (Kind::Float, CPU));
    assert_eq!(
        GradCam::default()
            .explain(&notop, &x)
            .unwrap_err()
            .to_string(),
        "vgg16 does not end in a Dense layer of class scores, so Grad-CAM has nothing to \
         explain: use a network with its top (include_top, with the weights that have the top) \
         or a trained cat/dog model"
    );
    let top = random(|| Backbone::Vgg16.application(true).build(CPU).unwrap());
    let x = Tensor::zeros([1, 3, 224, 224], (Kind::Float, CPU));
    let cam = GradCam::new("block5_pool");
    assert!(cam.explain(&top, &x).unwrap_err().to_string().starts_with(
        "block5_pool is not a convolutional layer of vgg16 (a MaxPooling2D layer): Grad-CAM \
         explains a convolution's output, so give --layer (GradCam::new) one of block1_conv1, \
         block1_conv2, block2_conv1,"
    ));
    let cam = GradCam::default().target(Target::Class(1000));
    assert_eq!(
        cam.explain(&top, &x).unwrap_err().to_string(),
        "class index 1000 is out of range: vgg16 has 1000 classes, so give --class \
         (Target::Class) an index from 0 to 999"
    );
}

#[test]
fn files_give_a_figure_of_each_image_beside_its_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let images = write_images(dir.path());
    let explained = GradCam::new("conv")
        .explain_files(&tiny(), &images, Preprocess::None)
        .unwrap();
    assert_eq!(explained.names, ["a.jpg", "b.png"]);
    assert_eq!(explained.explanation.maps.size(), [2, 8, 8]);
    let overlays = explained.overlays().unwrap();
    let sizes: Vec<_> = overlays.iter().map(|o| o.dimensions()).collect();
    assert_eq!(sizes, [(300, 200), (224, 224)]);
    let figure = explained.figure().unwrap();
    assert_eq!(figure.figure_kind().as_deref(), Some("grad-cam"));
    assert_eq!(figure.dimensions(), (4 * 244, 264));
}

#[test]
fn cuda_gives_the_cpu_maps() {
    if !tch::Cuda::is_available() {
        eprintln!("no CUDA GPU: the CPU-against-CUDA check is skipped");
        return;
    }
    let mut model = random(|| {
        tch::manual_seed(3);
        Experiment::Frozen
            .model(
                Backbone::Vgg16
                    .application(false)
                    .input_size(64, 64)
                    .build(CPU)
                    .unwrap(),
            )
            .unwrap()
    });
    let x = random(|| Tensor::randn([2, 3, 64, 64], (Kind::Float, CPU))) * 60.0;
    let cam = GradCam::default().target(Target::Class(1));
    let cpu = cam.explain(&model, &x).unwrap();
    model.to(Device::Cuda(0));
    let cuda = cam.explain(&model, &x).unwrap();
    assert_eq!(cuda.maps.device(), CPU);
    let distance = (&cpu.maps - &cuda.maps).abs().max().double_value(&[]);
    // cuDNN convolutions use TF32 by default: about 1e-3 relative.
    assert!(distance < 1e-2, "CPU and CUDA maps differ by {distance}");
}

#[test]
fn maps_of_networks_with_shortcuts_inside_a_block_and_at_the_last_convolution() {
    // MobileNetV2's cat/dog model: a depthwise convolution inside a residual block (the block's
    // input also flows around it to the Add) and, by default, the last convolution, Conv_1.
    let model = random(|| {
        tch::manual_seed(5);
        let base = Backbone::MobileNetV2
            .application(false)
            .input_size(64, 64)
            .build(CPU)
            .unwrap();
        Experiment::Frozen.model(base).unwrap()
    });
    let x = random(|| Tensor::randn([2, 3, 64, 64], (Kind::Float, CPU)));
    let dog = tch::no_grad(|| model.forward_t(&x, false)).unwrap();
    for (cam, side) in [
        (GradCam::new("block_2_depthwise"), 16),
        (GradCam::default(), 2),
    ] {
        let found = cam.target(Target::Class(1)).explain(&model, &x).unwrap();
        assert_eq!(found.maps.size(), [2, side, side]);
        assert!(values(&found.maps).iter().all(|v| (0.0..=1.0).contains(v)));
        // The score explained is the logit of the probability the whole model gives.
        let sigmoid: Vec<f32> = found
            .scores
            .iter()
            .map(|s| 1.0 / (1.0 + (-s).exp()))
            .collect();
        for (a, b) in sigmoid.iter().zip(values(&dog)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
    assert_eq!(
        GradCam::default().explain(&model, &x).unwrap().layer,
        "Conv_1"
    );
    // ResNet50's last convolution is what the error suggests.
    let resnet = random(|| Backbone::ResNet50.application(true).build(CPU).unwrap());
    let x = Tensor::zeros([1, 3, 224, 224], (Kind::Float, CPU));
    let error = GradCam::new("avg_pool").explain(&resnet, &x).unwrap_err();
    let error = error.to_string();
    assert!(error.starts_with("avg_pool is not a convolutional layer of resnet50 (a "));
    assert!(error.ends_with("(conv5_block3_3_conv, the last, is the usual choice)"));
}
