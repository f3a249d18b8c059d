//! Augmented flows: each epoch transforms the cached images with the transform seeded by (seed,
//! epoch, image), in parallel, and equals the slow path (`load_img` + `get_random_transform` +
//! `apply_transform` + `preprocess_input` per file) bit for bit; a resumed epoch equals the
//! uninterrupted one; bad arguments are refused before any work.

use std::path::{Path, PathBuf};

use catsdogs::data::{
    img_to_array, load_img, preprocess_input, sample, split, transform_seed, DirectoryIterator,
    FlowOptions, ImageDataGenerator, Preprocess, SampleOptions, SplitOptions,
};
use tch::{Device, Tensor};

/// The training folder of a small split of the synthetic sample (24 images).
fn train_folder(dir: &Path) -> PathBuf {
    let zip = dir.join("train.zip");
    let options = SampleOptions {
        per_class: 16,
        ..SampleOptions::default()
    };
    sample(&zip, &options).unwrap();
    let out = dir.join("data");
    split(&zip, &out, &SplitOptions::sizes(24, 4, 4)).unwrap();
    out.join("train")
}

/// (N, 3, H, W) batches of epoch `epoch`, in order.
fn epoch(flow: &DirectoryIterator, epoch: usize) -> Vec<(Vec<usize>, Tensor)> {
    flow.epoch(epoch, Device::Cpu)
        .map(|b| b.unwrap())
        .map(|b| (b.indices, b.x))
        .collect()
}

fn options() -> FlowOptions {
    FlowOptions::default()
        .target_size(40, 54)
        .batch_size(10)
        .seed(3)
}

/// Every parameter at once, with a fill mode other than the default.
fn generator() -> ImageDataGenerator {
    ImageDataGenerator::classic(Preprocess::Vgg16)
        .vertical_flip(true)
        .channel_shift_range(30.0)
        .brightness_range([0.6, 1.3])
        .fill_mode("reflect".parse().unwrap())
}

#[test]
fn augmented_batches_equal_the_slow_path_and_epochs_are_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let train = train_folder(dir.path());
    let datagen = generator();
    let flow = datagen.flow_from_directory(&train, options()).unwrap();
    assert!(flow.is_augmented());
    let plain = ImageDataGenerator::new(Preprocess::Vgg16)
        .flow_from_directory(&train, options())
        .unwrap();
    assert!(!plain.is_augmented());

    let first = epoch(&flow, 1);
    assert_eq!(
        first.iter().map(|(i, _)| i.len()).collect::<Vec<_>>(),
        [10, 10, 4]
    );
    // The slow path, image by image, from the file.
    for (indices, x) in &first {
        for (k, &i) in indices.iter().enumerate() {
            let img = load_img(&train.join(&flow.filenames[i]), Some((40, 54))).unwrap();
            let seed = transform_seed(3, 1, i);
            let augmented = datagen.random_transform(img_to_array(&img), seed).unwrap();
            let expected = preprocess_input(augmented, Preprocess::Vgg16).permuted_axes([2, 0, 1]);
            let ours = Vec::<f32>::try_from(x.get(k as i64).flatten(0, -1)).unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&ours),
                bits(&expected.iter().copied().collect::<Vec<_>>())
            );
        }
    }
    // Another epoch draws other transforms of the same images; a plain flow draws none.
    let second = epoch(&flow, 2);
    let image_of = |batches: &[(Vec<usize>, Tensor)], i: usize| {
        batches
            .iter()
            .find_map(|(indices, x)| {
                indices
                    .iter()
                    .position(|&j| j == i)
                    .map(|k| x.get(k as i64))
            })
            .unwrap()
    };
    for i in 0..flow.samples() {
        assert!(
            !image_of(&first, i).equal(&image_of(&second, i)),
            "image {i}"
        );
        assert!(!image_of(&first, i).equal(&plain.batch(&[i], Device::Cpu).unwrap().x.get(0)));
    }
}

#[test]
fn a_resumed_epoch_equals_the_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let train = train_folder(dir.path());
    let flow = generator().flow_from_directory(&train, options()).unwrap();
    let uninterrupted: Vec<_> = (0..3).map(|e| epoch(&flow, e)).collect();
    // A new process: a new flow over the same folder, starting at epoch 2.
    let resumed = generator().flow_from_directory(&train, options()).unwrap();
    let again = epoch(&resumed, 2);
    assert_eq!(again.len(), uninterrupted[2].len());
    for ((i, x), (j, y)) in again.iter().zip(&uninterrupted[2]) {
        assert_eq!(i, j);
        assert!(x.equal(y));
    }
    // Stopping an epoch early and running it again gives its first batch again.
    let first = flow.epoch(1, Device::Cpu).next().unwrap().unwrap();
    assert!(first.x.equal(&uninterrupted[1][0].1));
    // Another seed, other transforms.
    let other = generator()
        .flow_from_directory(&train, options().seed(4).shuffle(false))
        .unwrap();
    let unshuffled = generator()
        .flow_from_directory(&train, options().shuffle(false))
        .unwrap();
    assert!(!epoch(&other, 0)[0].1.equal(&epoch(&unshuffled, 0)[0].1));
}

#[test]
fn the_same_seed_gives_the_same_transform() {
    let datagen = generator();
    let draw = |seed| datagen.get_random_transform(&[40, 54, 3], seed).unwrap();
    assert_eq!(draw(transform_seed(0, 5, 9)), draw(transform_seed(0, 5, 9)));
    assert_ne!(draw(transform_seed(0, 5, 9)), draw(transform_seed(0, 6, 9)));
    assert_ne!(
        draw(transform_seed(0, 5, 9)),
        draw(transform_seed(0, 5, 10))
    );
    assert_ne!(draw(transform_seed(0, 5, 9)), draw(transform_seed(1, 5, 9)));
    // Draws stay within their ranges: 0.2 of the side for the shifts, zoom 0.8 to 1.2.
    for seed in 0..200 {
        let p = draw(seed);
        assert!(p.theta.abs() <= 40.0 && p.shear.abs() <= 0.2);
        assert!(p.tx.abs() <= 0.2 * 40.0 && p.ty.abs() <= 0.2 * 54.0);
        assert!((0.8..=1.2).contains(&p.zx) && (0.8..=1.2).contains(&p.zy));
        assert!(p.channel_shift_intensity.is_some_and(|c| c.abs() <= 30.0));
        assert!(p.brightness.is_some_and(|b| (0.6..=1.3).contains(&b)));
    }
}

#[test]
fn shift_ranges_are_read_as_keras_reads_them() {
    let draws = |datagen: ImageDataGenerator| -> Vec<f64> {
        (0..300)
            .map(|seed| datagen.get_random_transform(&[50, 80, 3], seed).unwrap().ty)
            .collect()
    };
    let plain = ImageDataGenerator::new(Preprocess::None);
    // An int n: whole pixels from -(n-1) to n-1.
    let mut pixels = draws(plain.clone().width_shift_range(3));
    pixels.sort_by(f64::total_cmp);
    pixels.dedup();
    assert_eq!(pixels, [-2.0, -1.0, 0.0, 1.0, 2.0]);
    // Choices below 1: fractions of the width, either sign.
    let mut fractions = draws(plain.clone().width_shift_range(vec![0.25]));
    fractions.sort_by(f64::total_cmp);
    fractions.dedup();
    assert_eq!(fractions, [-20.0, 20.0]);
    // A float of 1 or more: pixels, uniformly.
    assert!(draws(plain.width_shift_range(6.0))
        .iter()
        .all(|t| t.abs() <= 6.0 && t.fract() != 0.0));
}

#[test]
fn bad_arguments_are_refused_before_any_work() {
    // The folder does not exist: the argument is what the sentence is about.
    let datagen = ImageDataGenerator::new(Preprocess::Vgg16).rotation_range(f64::NAN);
    let err = datagen
        .flow_from_directory("no/such/folder", FlowOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rotation_range NaN is not a finite number: give a range of 0 or more, such as 40 (degrees)"
    );
    let datagen = ImageDataGenerator::new(Preprocess::None).brightness_range([1.5, 0.5]);
    let err = datagen.get_random_transform(&[8, 8, 3], 0).unwrap_err();
    assert!(
        err.to_string()
            .contains("brightness_range [1.5, 0.5] is in the wrong order"),
        "{err}"
    );
    let x = ndarray::Array3::<f32>::zeros((4, 4, 3));
    let err = ImageDataGenerator::new(Preprocess::None)
        .zoom_range(-0.1)
        .apply_transform(x, &Default::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("zoom_range -0.1 is negative"),
        "{err}"
    );
}

#[test]
fn an_image_without_pixels_stays_as_it_is() {
    let datagen = ImageDataGenerator::classic(Preprocess::None).brightness_range([0.5, 1.5]);
    for shape in [(0, 5, 3), (4, 0, 3), (4, 5, 0)] {
        let x = ndarray::Array3::<f32>::zeros(shape);
        assert_eq!(datagen.random_transform(x.clone(), 1).unwrap(), x);
    }
}

#[test]
fn any_number_of_channels_moves_as_three_do() {
    // The sampler reads three interleaved channels at once, and other counts one by one: the
    // same geometry must give the same values either way.
    let x = ndarray::Array3::from_shape_fn((9, 13, 4), |(r, c, k)| {
        ((r * 29 + c * 7 + k * 61) % 256) as f32
    });
    let datagen = ImageDataGenerator::new(Preprocess::None).fill_mode("wrap".parse().unwrap());
    let params = catsdogs::data::TransformParams {
        theta: 31.0,
        tx: 2.5,
        zx: 0.8,
        zy: 1.3,
        flip_vertical: true,
        ..Default::default()
    };
    let four = datagen.apply_transform(x.clone(), &params).unwrap();
    let rgb = ndarray::s![.., .., 0..3];
    let alpha = ndarray::s![.., .., 3..4];
    let three = datagen
        .apply_transform(x.slice(rgb).to_owned(), &params)
        .unwrap();
    let one = datagen
        .apply_transform(x.slice(alpha).to_owned(), &params)
        .unwrap();
    assert_eq!(four.slice(rgb), three);
    assert_eq!(four.slice(alpha), one);
}
