//! `catsdogs augment`: a given transform as a float32 `.npy` equal to the crate's
//! `apply_transform` (which `catsdogs/tests/augment_parity.rs` checks against Keras), random
//! augmentations as a seeded grid, and each bad argument refused with one sentence before the
//! image is read.

mod cli;

use std::path::Path;

use catsdogs::data::{img_to_array, load_img, FillMode, ImageDataGenerator, Preprocess};
use cli::{catsdogs, ok, path, refused};

/// A 50x70 PNG with a gradient and a block, in `dir`.
fn photo(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("photo.png");
    catsdogs::image::RgbImage::from_fn(70, 50, |x, y| {
        let block = (20..40).contains(&x) && (10..25).contains(&y);
        catsdogs::image::Rgb(if block {
            [230, 20, 90]
        } else {
            [(x * 3) as u8, (y * 5) as u8, ((x + y) * 2) as u8]
        })
    })
    .save(&file)
    .unwrap();
    file
}

#[test]
fn a_given_transform_is_written_as_float32() {
    let dir = tempfile::tempdir().unwrap();
    let image = photo(dir.path());
    let npy = dir.path().join("x.npy");
    let transform = r#"{"theta": 25, "tx": 3.5, "zx": 0.8, "zy": 1.1, "flip_horizontal": true}"#;
    let said = ok(&catsdogs(&[
        "augment",
        path(&image),
        "--target-size",
        "41x57",
        "--transform",
        transform,
        "--fill-mode",
        "constant",
        "--cval",
        "12.5",
        "--npy",
        path(&npy),
    ]));
    assert!(said.contains("41x57x3 float32"), "{said}");
    let written = tch::Tensor::read_npy(&npy).unwrap();
    assert_eq!(written.size(), [41, 57, 3]);
    assert_eq!(written.kind(), tch::Kind::Float);
    let x = img_to_array(&load_img(&image, Some((41, 57))).unwrap());
    let expected = ImageDataGenerator::new(Preprocess::None)
        .fill_mode(FillMode::Constant)
        .cval(12.5)
        .apply_transform(x, &transform.parse().unwrap())
        .unwrap();
    let got = Vec::<f32>::try_from(written.flatten(0, -1)).unwrap();
    assert_eq!(got, expected.iter().copied().collect::<Vec<_>>());
    // The cval shows where the rotated image leaves the frame.
    assert!(got.contains(&12.5));
}

#[test]
fn random_augmentations_are_a_seeded_grid() {
    let dir = tempfile::tempdir().unwrap();
    let image = photo(dir.path());
    let grid = |seed: &str, name: &str| -> Vec<u8> {
        let out = dir.path().join(name);
        let said = ok(&catsdogs(&[
            "augment",
            path(&image),
            "--random",
            "6",
            "--seed",
            seed,
            "--augment",
            "classic,brightness_range=[0.7,1.3]",
            "--out",
            path(&out),
        ]));
        assert!(said.contains("Wrote 6 augmentations"), "{said}");
        std::fs::read(out).unwrap()
    };
    let first = grid("3", "a.png");
    let decoded = catsdogs::image::load_from_memory(&first).unwrap();
    // Four to a row: two rows of 244x264 cells.
    assert_eq!((decoded.width(), decoded.height()), (4 * 244, 2 * 264));
    assert_eq!(grid("3", "b.png"), first);
    assert_ne!(grid("4", "c.png"), first);
}

#[test]
fn bad_arguments_are_one_sentence_before_the_image_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // The image does not exist: each sentence must be about the argument, not the file.
    let image = dir.path().join("missing.jpg");
    let out = dir.path().join("grid.png");
    let npy = dir.path().join("x.npy");
    let random = |augment: &str| {
        let (image, out) = (path(&image).to_string(), path(&out).to_string());
        [
            "augment",
            &image,
            "--random",
            "4",
            "--augment",
            augment,
            "--out",
            &out,
        ]
        .map(String::from)
        .to_vec()
    };
    let given = |extra: &[&str]| {
        let (image, npy) = (path(&image).to_string(), path(&npy).to_string());
        let mut args = [
            "augment",
            &image,
            "--transform",
            r#"{"theta": 10}"#,
            "--npy",
            &npy,
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (random("rotation_range=-5"), "rotation_range -5 is negative"),
        (
            random("shear_range=inf"),
            "shear_range inf is not a finite number",
        ),
        (
            random("width_shift_range=NaN"),
            "width_shift_range NaN is not a finite number",
        ),
        (
            random("zoom_range=[1.2,0.8]"),
            "zoom_range [1.2, 0.8] is in the wrong order",
        ),
        (
            random("brightness_range=0.5"),
            "brightness_range=0.5 needs two values",
        ),
        (random("brightness_range=[0.5,0.8,1.2]"), "needs two values"),
        (random("fill_mode=mirror"), "unknown fill mode \"mirror\""),
        (
            random("rotate=40"),
            "unknown augmentation argument \"rotate\"",
        ),
        (
            given(&["--fill-mode", "mirror"]),
            "unknown fill mode \"mirror\"",
        ),
        (given(&["--cval", "nan"]), "cval NaN is not a finite number"),
        (
            vec![
                "augment",
                path(&image),
                "--transform",
                r#"{"rotation": 3}"#,
                "--npy",
                path(&npy),
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "is not Keras's parameter dictionary in JSON",
        ),
        (
            vec![
                "augment",
                path(&image),
                "--random",
                "0",
                "--out",
                path(&out),
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "0 augmentations cannot be shown",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sentence = refused(&catsdogs(&args));
        assert!(sentence.contains(expected), "{args:?}: {sentence}");
        assert!(!sentence.contains("missing.jpg"), "{sentence}");
    }
    assert!(!out.exists() && !npy.exists());
}
