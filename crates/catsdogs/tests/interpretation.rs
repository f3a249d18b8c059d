//! The interpretation figures after evaluation: which images count as wrong, in which order, and
//! the figures they make.

use catsdogs::data::{
    sample, split, FlowOptions, ImageDataGenerator, Preprocess, SampleOptions, SplitOptions,
};
use catsdogs::plot::{flow_images, Interpretation};
use catsdogs::tch::Tensor;

#[test]
fn the_most_confidently_wrong_images_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    sample(
        &zip,
        &SampleOptions {
            per_class: 6,
            ..Default::default()
        },
    )
    .unwrap();
    split(
        &zip,
        &dir.path().join("split"),
        &SplitOptions::sizes(4, 4, 4),
    )
    .unwrap();
    let flow = ImageDataGenerator::new(Preprocess::Vgg16)
        .flow_from_directory(
            dir.path().join("split/test"),
            FlowOptions::default().target_size(32, 32).shuffle(false),
        )
        .unwrap();
    assert_eq!(flow.classes, vec![0, 0, 1, 1]);
    // cat right, cat wrong (0.7), dog wrong at exactly 0.5 (counts as cat), dog wrong (0.1)
    let probabilities = Tensor::from_slice(&[0.2f32, 0.7, 0.5, 0.1]);
    let interpretation = Interpretation::new(&flow, &probabilities).unwrap();
    assert_eq!(interpretation.predicted(), vec![0, 1, 0, 0]);
    assert_eq!(interpretation.top_loss_indices(10), vec![3, 1, 2]);
    assert_eq!(interpretation.top_loss_indices(1), vec![3]);
    let grid = interpretation.top_losses(2).unwrap();
    assert_eq!(grid.figure_kind().as_deref(), Some("image-grid"));
    assert_eq!(
        interpretation
            .confusion_matrix()
            .unwrap()
            .figure_kind()
            .as_deref(),
        Some("confusion-matrix")
    );
    assert_eq!(
        flow_images(&flow, &[0, 3])
            .unwrap()
            .figure_kind()
            .as_deref(),
        Some("image-grid")
    );

    let perfect =
        Interpretation::new(&flow, &Tensor::from_slice(&[0.1f32, 0.2, 0.9, 0.8])).unwrap();
    assert!(perfect.top_loss_indices(8).is_empty());
    let empty_grid = perfect.top_losses(8).unwrap();
    assert_eq!(empty_grid.figure_kind().as_deref(), Some("image-grid"));
    assert!(
        empty_grid.dimensions().0 < grid.dimensions().0,
        "a small 'no images to show' figure"
    );

    let err = Interpretation::new(&flow, &Tensor::from_slice(&[0.5f32]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("1 probabilities for 4 images"), "{err}");
}
