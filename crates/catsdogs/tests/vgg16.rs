//! VGG16 and the Sequential model: Keras's names, shapes, parameter counts and summary tables,
//! cutting the network at a layer, trainable flags, Keras's initialisation and dropout, saving.

use std::sync::Mutex;

use catsdogs::applications::{Application, Backbone, Flavor, Pooling};
use catsdogs::model::{Activation, Dense, LayerKind, Model, Sequential};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

/// libtorch's random generator is one for the process, and tests run on parallel threads: every
/// use of it (new weights, dropout) holds this lock, so that seeded results are repeatable.
fn random<T>(f: impl FnOnce() -> T) -> T {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

fn vgg16_application(include_top: bool) -> Application {
    Backbone::Vgg16.application(include_top)
}

fn vgg16(include_top: bool) -> Model {
    random(|| vgg16_application(include_top).build(CPU).unwrap())
}

fn small_base() -> Model {
    random(|| {
        vgg16_application(false)
            .input_size(32, 32)
            .build(CPU)
            .unwrap()
    })
}

/// The tutorial's model on a 32x32 base (512 features after Flatten) so it runs fast.
fn small_model(seed: i64) -> Model {
    random(|| {
        tch::manual_seed(seed);
        let base = vgg16_application(false)
            .input_size(32, 32)
            .build(CPU)
            .unwrap();
        Sequential::new(&base)
            .flatten()
            .dropout(0.5)
            .dense(256, Activation::Relu)
            .dense(1, Activation::Sigmoid)
    })
}

fn names(layers: &[catsdogs::model::Layer]) -> Vec<&str> {
    layers.iter().map(|l| l.name()).collect()
}

/// Lines with trailing spaces removed; and every table row must be Keras's 65 characters.
fn table_lines(summary: &str) -> Vec<String> {
    for line in summary.lines().skip(1) {
        if !line.starts_with("Total")
            && !line.starts_with("Trainable")
            && !line.starts_with("Non-trainable")
        {
            assert_eq!(line.len(), 65, "row {line:?}");
        }
    }
    summary.lines().map(|l| l.trim_end().to_string()).collect()
}

fn expected_lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn keras_layer_names_in_order() {
    let top = vgg16(true);
    assert_eq!(
        names(top.layers()),
        [
            "block1_conv1",
            "block1_conv2",
            "block1_pool",
            "block2_conv1",
            "block2_conv2",
            "block2_pool",
            "block3_conv1",
            "block3_conv2",
            "block3_conv3",
            "block3_pool",
            "block4_conv1",
            "block4_conv2",
            "block4_conv3",
            "block4_pool",
            "block5_conv1",
            "block5_conv2",
            "block5_conv3",
            "block5_pool",
            "flatten",
            "fc1",
            "fc2",
            "predictions"
        ]
    );
    assert_eq!(top.count_params(), 138_357_544);
    let summary = top.summary();
    assert_eq!(summary.total_params(), 138_357_544);
    assert_eq!(summary.trainable_params(), 138_357_544);
    let text = summary.to_string();
    assert!(text.contains("fc1 (Dense)                  (None, 4096)              102764544 "));
    assert!(text.contains("predictions (Dense)          (None, 1000)              4097000   "));
    let notop = vgg16(false);
    assert_eq!(names(notop.layers()).len(), 18);
    assert_eq!(notop.count_params(), 14_714_688);
}

#[test]
fn notop_summary_is_keras_table() {
    let summary = vgg16(false).summary().to_string();
    let expected = r#"Model: "vgg16"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
input_1 (InputLayer)         (None, 224, 224, 3)       0
_________________________________________________________________
block1_conv1 (Conv2D)        (None, 224, 224, 64)      1792
_________________________________________________________________
block1_conv2 (Conv2D)        (None, 224, 224, 64)      36928
_________________________________________________________________
block1_pool (MaxPooling2D)   (None, 112, 112, 64)      0
_________________________________________________________________
block2_conv1 (Conv2D)        (None, 112, 112, 128)     73856
_________________________________________________________________
block2_conv2 (Conv2D)        (None, 112, 112, 128)     147584
_________________________________________________________________
block2_pool (MaxPooling2D)   (None, 56, 56, 128)       0
_________________________________________________________________
block3_conv1 (Conv2D)        (None, 56, 56, 256)       295168
_________________________________________________________________
block3_conv2 (Conv2D)        (None, 56, 56, 256)       590080
_________________________________________________________________
block3_conv3 (Conv2D)        (None, 56, 56, 256)       590080
_________________________________________________________________
block3_pool (MaxPooling2D)   (None, 28, 28, 256)       0
_________________________________________________________________
block4_conv1 (Conv2D)        (None, 28, 28, 512)       1180160
_________________________________________________________________
block4_conv2 (Conv2D)        (None, 28, 28, 512)       2359808
_________________________________________________________________
block4_conv3 (Conv2D)        (None, 28, 28, 512)       2359808
_________________________________________________________________
block4_pool (MaxPooling2D)   (None, 14, 14, 512)       0
_________________________________________________________________
block5_conv1 (Conv2D)        (None, 14, 14, 512)       2359808
_________________________________________________________________
block5_conv2 (Conv2D)        (None, 14, 14, 512)       2359808
_________________________________________________________________
block5_conv3 (Conv2D)        (None, 14, 14, 512)       2359808
_________________________________________________________________
block5_pool (MaxPooling2D)   (None, 7, 7, 512)         0
=================================================================
Total params: 14,714,688
Trainable params: 14,714,688
Non-trainable params: 0
_________________________________________________________________"#;
    assert_eq!(table_lines(&summary), expected_lines(expected));
}

#[test]
fn tutorial_model_summary_and_fine_tuning_counts() {
    let mut model = random(|| {
        Sequential::new(&vgg16_application(false).build(CPU).unwrap())
            .flatten()
            .dropout(0.5)
            .dense(256, Activation::Relu)
            .dense(1, Activation::Sigmoid)
    });
    model.freeze_base();
    let expected = r#"Model: "sequential_1"
_________________________________________________________________
Layer (type)                 Output Shape              Param #
=================================================================
vgg16 (Model)                (None, 7, 7, 512)         14714688
_________________________________________________________________
flatten_1 (Flatten)          (None, 25088)             0
_________________________________________________________________
dropout_1 (Dropout)          (None, 25088)             0
_________________________________________________________________
dense_1 (Dense)              (None, 256)               6422784
_________________________________________________________________
dense_2 (Dense)              (None, 1)                 257
=================================================================
Total params: 21,137,729
Trainable params: 6,423,041
Non-trainable params: 14,714,688
_________________________________________________________________"#;
    assert_eq!(
        table_lines(&model.summary().to_string()),
        expected_lines(expected)
    );
    assert_eq!(model.first_trainable(), Some(18));
    assert_eq!(model.layer_index("flatten_1").unwrap(), 18);

    // Unfreezing block5: its three convolutions (3 x 2,359,808) become trainable.
    model.trainable_from("block5_conv1").unwrap();
    let summary = model.summary();
    assert_eq!(summary.trainable_params(), 6_423_041 + 7_079_424);
    assert_eq!(summary.non_trainable_params(), 14_714_688 - 7_079_424);
    assert_eq!(model.first_trainable(), Some(14));
    let trainable: Vec<String> = model
        .trainable_parameters()
        .into_iter()
        .map(|(name, t)| {
            assert!(t.requires_grad(), "{name}");
            name
        })
        .collect();
    assert_eq!(
        trainable,
        [
            "block5_conv1/kernel",
            "block5_conv1/bias",
            "block5_conv2/kernel",
            "block5_conv2/bias",
            "block5_conv3/kernel",
            "block5_conv3/bias",
            "dense_1/kernel",
            "dense_1/bias",
            "dense_2/kernel",
            "dense_2/bias"
        ]
    );
    let frozen = &model.named_parameters()[0].1;
    assert!(!frozen.requires_grad());
}

#[test]
fn cut_at_a_layer_composes_to_the_whole() {
    let base = small_base();
    let x = random(|| Tensor::randn([2, 3, 32, 32], (Kind::Float, CPU)));
    let whole = base.forward(&x).unwrap();
    assert_eq!(whole.size(), [2, 512, 1, 1]);
    let block4 = base.forward_to(&x, "block4_pool").unwrap();
    assert_eq!(block4.size(), [2, 512, 2, 2]);
    assert_eq!(base.forward_from(&block4, "block5_conv1").unwrap(), whole);

    let model = small_model(1);
    let cached = model.forward_range(&x, 0..model.base_len(), false).unwrap();
    let head = model
        .forward_range(&cached, model.base_len()..model.layers().len(), false)
        .unwrap();
    assert_eq!(head, model.forward_t(&x, false).unwrap());
    assert_eq!(head.size(), [2, 1]);
}

#[test]
fn trainable_flags_per_layer() {
    let mut base = small_base();
    base.trainable_from("block5_conv1").unwrap();
    let flags: Vec<bool> = base.layers().iter().map(|l| l.trainable()).collect();
    assert_eq!(flags.iter().filter(|&&t| t).count(), 4);
    assert!(flags[14..].iter().all(|&t| t) && flags[..14].iter().all(|&t| !t));
    base.set_trainable("block1_conv1", true).unwrap();
    assert!(base.layers()[0].weights()[0].requires_grad());
    base.set_all_trainable(false);
    assert!(base
        .named_parameters()
        .iter()
        .all(|(_, t)| !t.requires_grad()));
}

#[test]
fn dense_layers_are_initialised_like_keras() {
    let a = small_model(7);
    let b = small_model(7);
    let c = small_model(8);
    let kernel = |m: &Model| m.layers()[20].weights()[0].shallow_clone();
    assert_eq!(kernel(&a), kernel(&b));
    assert_ne!(kernel(&a), kernel(&c));
    // glorot_uniform: within ±sqrt(6 / (512 + 256)), and spread over that range.
    let limit = (6.0f64 / (512.0 + 256.0)).sqrt();
    let k = kernel(&a);
    assert!(k.abs().max().double_value(&[]) <= limit);
    assert!(k.abs().max().double_value(&[]) > 0.99 * limit);
    assert!(k.mean(Kind::Float).double_value(&[]).abs() < 0.01 * limit);
    let bias = &a.layers()[20].weights()[1];
    assert_eq!(bias.abs().sum(Kind::Float).double_value(&[]), 0.0);
    assert_eq!(a.layers()[21].weights()[0].size(), [256, 1]);
}

#[test]
fn dropout_is_inverted_and_only_in_training() {
    let model = small_model(3);
    let dropout = model.layer_index("dropout_1").unwrap();
    let x = Tensor::ones([4, 512], (Kind::Float, CPU));
    let eval = model
        .forward_range(&x, dropout..dropout + 1, false)
        .unwrap();
    assert_eq!(eval, x);
    let seeded = |seed| {
        random(|| {
            tch::manual_seed(seed);
            model.forward_range(&x, dropout..dropout + 1, true).unwrap()
        })
    };
    let train = seeded(11);
    // Kept values are scaled by 1 / (1 - 0.5); the others are zero.
    let kept = train.eq(2.0).sum(Kind::Int64).int64_value(&[]);
    let dropped = train.eq(0.0).sum(Kind::Int64).int64_value(&[]);
    assert_eq!(kept + dropped, 4 * 512);
    assert!((800..1250).contains(&kept), "{kept} of 2048 kept");
    assert_eq!(train, seeded(11));
    assert_ne!(train, seeded(12));
}

#[test]
fn save_and_load_rebuild_the_same_model() {
    let mut model = small_model(5);
    model.trainable_from("block5_conv2").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(&path, CPU).unwrap();
    assert_eq!(names(loaded.layers()), names(model.layers()));
    assert_eq!(loaded.base_len(), model.base_len());
    assert_eq!(loaded.input_shape(), [3, 32, 32]);
    assert_eq!(loaded.summary(), model.summary());
    for (a, b) in model.layers().iter().zip(loaded.layers()) {
        assert_eq!(a.kind(), b.kind());
        assert_eq!(a.trainable(), b.trainable());
        assert_eq!(a.weights(), b.weights(), "{}", a.name());
    }
    let x = random(|| Tensor::randn([1, 3, 32, 32], (Kind::Float, CPU)));
    assert_eq!(
        loaded.forward_t(&x, false).unwrap(),
        model.forward_t(&x, false).unwrap()
    );
    let all = 0..model.layers().len();
    assert_eq!(
        loaded.parameters_hash(all.clone()).unwrap(),
        model.parameters_hash(all).unwrap()
    );
}

#[test]
fn loading_a_file_without_architecture_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    let tensor = Tensor::zeros([2], (Kind::Float, CPU));
    Tensor::write_safetensors(&[("x", &tensor)], &path).unwrap();
    let error = Model::load(&path, CPU).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{} is not a model that catsdogs saved (no 'catsdogs.architecture' entry): train \
             it again, or give the model.safetensors of a run folder",
            path.display()
        )
    );
}

#[test]
fn parameters_hash_follows_the_weights_of_its_range() {
    let a = small_model(5);
    let b = small_model(5);
    let base = 0..a.base_len();
    let head = a.base_len()..a.layers().len();
    assert_eq!(
        a.parameters_hash(base.clone()).unwrap(),
        b.parameters_hash(base.clone()).unwrap()
    );
    assert_eq!(
        a.parameters_hash(head.clone()).unwrap(),
        b.parameters_hash(head.clone()).unwrap()
    );
    // One changed weight in the head changes the head's hash only.
    let _guard = tch::no_grad_guard();
    let _ = b.layers()[21].weights()[1].shallow_clone().fill_(0.5);
    assert_eq!(
        a.parameters_hash(base.clone()).unwrap(),
        b.parameters_hash(base).unwrap()
    );
    assert_ne!(
        a.parameters_hash(head.clone()).unwrap(),
        b.parameters_hash(head).unwrap()
    );
    assert_eq!(a.parameters_hash(0..0).unwrap().len(), 64);
}

#[test]
fn wrong_inputs_and_names_are_clear_errors() {
    let base = small_base();
    let nhwc = Tensor::zeros([1, 32, 32, 3], (Kind::Float, CPU));
    assert_eq!(
        base.forward(&nhwc).unwrap_err().to_string(),
        "vgg16 expects NCHW input of 3 channels and a size its layers take (it was built for \
         32x32) but got a batch of shape (1, 32, 32, 3)"
    );
    assert_eq!(
        base.forward_to(&nhwc, "block1_conv1")
            .unwrap_err()
            .to_string(),
        "vgg16 expects NCHW input of 3 channels and a size its layers take (it was built for \
         32x32) but got a batch of shape (1, 32, 32, 3)"
    );
    let top = vgg16(true);
    let small = Tensor::zeros([1, 3, 32, 32], (Kind::Float, CPU));
    assert_eq!(
        top.forward(&small).unwrap_err().to_string(),
        "vgg16 expects NCHW input of 3 channels and a size its layers take (it was built for \
         224x224) but got a batch of shape (1, 3, 32, 32)"
    );
    let features = Tensor::zeros([1, 512, 1, 1], (Kind::Float, CPU));
    assert_eq!(
        top.forward_from(&features, "flatten")
            .unwrap_err()
            .to_string(),
        "layer fc1 expects 25088 features per sample, for 4096 units but got a batch of shape \
         (1, 512)"
    );
    let error = base.layer_index("block6_conv1").unwrap_err().to_string();
    assert!(
        error.starts_with("vgg16 has no layer named 'block6_conv1'; its layers are block1_conv1, block1_conv2, block1_pool,"),
        "{error}"
    );
    let model = small_model(0);
    assert_eq!(
        model
            .forward_range(&small, 3..40, false)
            .unwrap_err()
            .to_string(),
        "sequential_1 has 22 layers, so it cannot run layers 3..40"
    );
    assert_eq!(
        vgg16_application(false)
            .input_size(31, 64)
            .build(CPU)
            .unwrap_err()
            .to_string(),
        "vgg16 needs images of at least 32x32; 31x64 does not fit"
    );
    assert!(vgg16_application(true)
        .input_size(150, 150)
        .build(CPU)
        .is_err());
}

#[test]
fn architecture_matches_kinds() {
    let layers = Backbone::Vgg16.layers(Flavor::Keras, true, Pooling::None, 224, 224);
    assert_eq!(
        layers[19].kind,
        LayerKind::from(Dense {
            inputs: 25088,
            units: 4096,
            activation: Activation::Relu
        })
    );
    let total: i64 = layers
        .iter()
        .flat_map(|spec| spec.kind.weight_shapes())
        .map(|(_, shape)| shape.iter().product::<i64>())
        .sum();
    assert_eq!(total, 138_357_544);
}
