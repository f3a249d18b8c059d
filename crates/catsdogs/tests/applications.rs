//! The other networks Keras ships (VGG19, ResNet50, MobileNetV2) from their tables: Keras's
//! parameter counts, summaries, pooling and input sizes, where a network can be cut, frozen
//! batch normalisation, and the same tutorial model on each. Their numbers against Keras itself
//! are in `keras_parity.rs`.

use std::sync::Mutex;

use catsdogs::applications::{Application, Backbone, Pooling};
use catsdogs::features::cut;
use catsdogs::model::{Activation, Model, Sequential};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

/// libtorch's random generator is one for the process: every use of it holds this lock.
fn random<T>(f: impl FnOnce() -> T) -> T {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// The network `application` describes, with seeded random weights.
fn build(application: Application) -> Model {
    random(|| {
        tch::manual_seed(0);
        application.build(CPU).unwrap()
    })
}

fn network(backbone: Backbone, include_top: bool) -> Model {
    build(backbone.application(include_top))
}

#[test]
fn parameter_counts_are_keras() {
    // (backbone, with the top, without it, trainable with the top) as Keras's summary says.
    let counts = [
        (Backbone::Vgg16, 138_357_544, 14_714_688, 138_357_544),
        (Backbone::Vgg19, 143_667_240, 20_024_384, 143_667_240),
        (Backbone::ResNet50, 25_636_712, 23_587_712, 25_583_592),
        (Backbone::MobileNetV2, 3_538_984, 2_257_984, 3_504_872),
    ];
    for (backbone, top, notop, trainable) in counts {
        let with_top = network(backbone, true);
        assert_eq!(with_top.count_params(), top, "{backbone}");
        let summary = with_top.summary();
        assert_eq!(summary.total_params(), top, "{backbone}");
        assert_eq!(summary.trainable_params(), trainable, "{backbone}");
        assert_eq!(network(backbone, false).count_params(), notop, "{backbone}");
        assert_eq!(
            with_top.layers().last().unwrap().name(),
            "predictions",
            "{backbone}"
        );
    }
}

#[test]
fn summaries_have_keras_columns() {
    let resnet = network(Backbone::ResNet50, false).summary().to_string();
    let lines: Vec<&str> = resnet.lines().collect();
    assert_eq!(lines[0], "Model: \"resnet50\"");
    assert_eq!(
        lines[2].trim_end(),
        "Layer (type)                    Output Shape         Param #     Connected to"
    );
    assert!(lines.iter().all(|l| l.len() <= 98));
    assert!(resnet.contains(
        "conv2_block1_add (Add)          (None, 56, 56, 256)  0           conv2_block1_0_bn[0][0]"
    ));
    assert!(resnet.contains(&format!("{}conv2_block1_3_bn[0][0]", " ".repeat(65))));
    assert!(resnet.contains("Total params: 23,587,712\n"));
    assert!(resnet.contains("Non-trainable params: 53,120\n"));
    let mobilenet = network(Backbone::MobileNetV2, true).summary().to_string();
    assert!(mobilenet.starts_with("Model: \"mobilenetv2_1.00_224\""));
    assert!(mobilenet.contains(
        "block_1_pad (ZeroPadding2D)     (None, 113, 113, 96) 0           block_1_expand_relu[0][0]"
    ));
    assert!(mobilenet.contains("Trainable params: 3,504,872\n"));
    // VGG19 is a chain: Keras's three columns.
    let vgg19 = network(Backbone::Vgg19, false).summary().to_string();
    assert!(vgg19.contains("block5_conv4 (Conv2D)        (None, 14, 14, 512)       2359808"));
    assert!(vgg19.lines().skip(1).all(|l| l.len() <= 65));
}

#[test]
fn pooling_and_input_sizes_as_keras() {
    let x = Tensor::zeros([2, 3, 96, 128], (Kind::Float, CPU));
    for (backbone, channels, side) in [
        (Backbone::Vgg19, 512, (3, 4)),
        (Backbone::ResNet50, 2048, (3, 4)),
        (Backbone::MobileNetV2, 1280, (3, 4)),
    ] {
        let base = build(backbone.application(false).input_size(96, 128));
        assert_eq!(
            base.forward(&x).unwrap().size(),
            [2, channels, side.0, side.1],
            "{backbone}"
        );
        for pooling in [Pooling::Avg, Pooling::Max] {
            let pooled = build(
                backbone
                    .application(false)
                    .pooling(pooling)
                    .input_size(96, 128),
            );
            assert_eq!(pooled.forward(&x).unwrap().size(), [2, channels]);
        }
    }
    let names = |backbone: Backbone, pooling| {
        let base = build(backbone.application(false).pooling(pooling));
        base.layers().last().unwrap().name().to_string()
    };
    assert_eq!(names(Backbone::ResNet50, Pooling::Avg), "avg_pool");
    assert_eq!(names(Backbone::ResNet50, Pooling::Max), "max_pool");
    assert_eq!(
        names(Backbone::MobileNetV2, Pooling::Max),
        "global_max_pooling2d"
    );
    assert_eq!(
        Backbone::ResNet50
            .application(true)
            .pooling(Pooling::Avg)
            .build(CPU)
            .unwrap_err()
            .to_string(),
        "ResNet50 with its top ends in its ImageNet classes; pooling=avg is for the network \
         without it (include_top=false)"
    );
    // MobileNetV2's stride-2 paddings follow the map sizes (Keras's correct_pad).
    let odd = build(Backbone::MobileNetV2.application(false).input_size(97, 97));
    let x = Tensor::zeros([1, 3, 97, 97], (Kind::Float, CPU));
    assert_eq!(odd.forward(&x).unwrap().size(), [1, 1280, 4, 4]);
}

#[test]
fn networks_cut_between_blocks_only() {
    let base = build(Backbone::ResNet50.application(false).input_size(64, 64));
    let x = Tensor::randn([1, 3, 64, 64], (Kind::Float, CPU));
    let whole = base.forward(&x).unwrap();
    let block = base.forward_to(&x, "conv4_block6_out").unwrap();
    let rest = base.forward_from(&block, "conv5_block1_1_conv").unwrap();
    assert_eq!(rest, whole);
    let error = base
        .forward_from(&block, "conv5_block1_2_conv")
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "resnet50 cannot start at layer conv5_block1_2_conv: the outputs of conv4_block6_out \
         and conv5_block1_1_relu flow into it and the layers after it, since it is inside a \
         residual block; start at the first layer of a block"
    );

    // The feature cache's cut moves back to the start of the block.
    let mut model = Sequential::new(&base)
        .flatten()
        .dense(1, Activation::Sigmoid);
    model.trainable_from("conv5_block1_2_conv").unwrap();
    let at = cut(&model);
    assert_eq!(model.layers()[at].name(), "conv5_block1_1_conv");
    assert_eq!(model.shape_into(at), [1024, 4, 4]);
    model.trainable_from("conv5_block1_1_conv").unwrap();
    assert_eq!(model.layers()[cut(&model)].name(), "conv5_block1_1_conv");
}

#[test]
fn frozen_batch_normalisation_uses_its_moving_statistics() {
    let mut base = build(Backbone::MobileNetV2.application(false).input_size(32, 32));
    let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, CPU));
    let model_of = |base: &Model| {
        Sequential::new(base)
            .flatten()
            .dense(1, Activation::Sigmoid)
    };
    base.set_all_trainable(false);
    let frozen = model_of(&base);
    let statistics = |model: &Model| {
        let index = model.layer_index("bn_Conv1").unwrap();
        model.layers()[index].weights()[2].copy()
    };
    let before = statistics(&frozen);
    let end = frozen.layers().len();
    let train = frozen.forward_range(&x, 0..end, true).unwrap();
    let infer = frozen.forward_range(&x, 0..end, false).unwrap();
    assert_eq!(train, infer, "frozen: the same in training and inference");
    assert_eq!(statistics(&frozen), before);

    // Trainable, in training: the batch's statistics, and the moving mean moves toward them.
    let mut trainable = frozen;
    trainable.trainable_from("Conv1").unwrap();
    let train = trainable.forward_range(&x, 0..end, true).unwrap();
    assert_ne!(train, infer);
    assert_ne!(statistics(&trainable), before);
    // The optimizer sees gamma and beta, not the moving statistics.
    let names: Vec<String> = trainable
        .trainable_parameters()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("bn_Conv1/"))
        .collect();
    assert_eq!(names, ["bn_Conv1/gamma", "bn_Conv1/beta"]);
}

#[test]
fn saved_graph_models_load_the_same() {
    let base = build(
        Backbone::MobileNetV2
            .application(false)
            .pooling(Pooling::Avg)
            .input_size(32, 32),
    );
    let model = random(|| {
        Sequential::new(&base)
            .dropout(0.5)
            .dense(1, Activation::Sigmoid)
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(&path, CPU).unwrap();
    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, CPU));
    assert_eq!(
        loaded.forward_t(&x, false).unwrap(),
        model.forward_t(&x, false).unwrap()
    );
    assert_eq!(loaded.base_name(), "mobilenetv2_1.00_32");
    let all = 0..model.layers().len();
    assert_eq!(
        loaded.parameters_hash(all.clone()).unwrap(),
        model.parameters_hash(all).unwrap()
    );
}
