//! `catsdogs train`, `evaluate`, `predict` and `submit` end to end on a tiny synthetic sample at
//! 32x32 with a random base: the run folder's files, and the other commands reading it.

mod cli;

use cli::{first_image, path};

/// Runs the binary and returns its stdout; panics with its stderr if it fails.
fn catsdogs(args: &[&str]) -> String {
    cli::ok(&cli::catsdogs(args))
}

#[test]
fn train_then_evaluate_predict_and_submit_from_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    let data = dir.path().join("data");
    let run = dir.path().join("runs/frozen");
    catsdogs(&["sample", path(&zip), "--per-class", "30"]);
    let split = cli::split_args(&zip, &data, [40, 10, 10]);
    catsdogs(&split.iter().map(String::as_str).collect::<Vec<_>>());
    let train = [
        "train",
        "--experiment",
        "frozen",
        "--data",
        path(&data),
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--target-size",
        "32x32",
        "--out",
        path(&run),
    ];
    let out = catsdogs(&train);
    assert!(out.contains("Epoch 2/2\n"), "{out}");
    for file in [
        "run.json",
        "history.json",
        "curves.png",
        "model.safetensors",
        "test_metrics.json",
    ] {
        assert!(run.join(file).is_file(), "{file} is missing");
    }
    assert!(run
        .join("checkpoints/epoch-0002/model.safetensors")
        .is_file());
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test_metrics.json")).unwrap())
            .unwrap();
    let (loss, acc) = (
        metrics["test_loss"].as_f64().unwrap(),
        metrics["test_acc"].as_f64().unwrap(),
    );

    let evaluated = catsdogs(&["evaluate", path(&run), "--data", path(&data)]);
    assert!(
        evaluated.ends_with(&format!("test_loss: {loss:.4} - test_acc: {acc:.4}\n")),
        "{evaluated}"
    );

    let cat = first_image(&data.join("test/cats"));
    let predicted = catsdogs(&["predict", path(&run), path(&cat)]);
    assert!(
        predicted.starts_with(&format!("{}: ", cat.display())),
        "{predicted}"
    );
    assert!(predicted.contains("(dog probability 0."), "{predicted}");

    // A resumed run with nothing left to do keeps the History; a new one refuses to overwrite.
    let history = std::fs::read_to_string(run.join("history.json")).unwrap();
    catsdogs(&[&train[..], &["--resume"]].concat());
    assert_eq!(
        std::fs::read_to_string(run.join("history.json")).unwrap(),
        history
    );
    let refused = cli::catsdogs(&train);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("already holds a checkpoint after epoch 2: resume it (--resume"),
        "{stderr}"
    );

    // The two-stage fine-tune starts from the frozen run's model, block5 now trainable.
    let finetune = dir.path().join("runs/finetune");
    let out = catsdogs(&cli::finetune_args(&data, &run, &finetune));
    assert!(
        out.contains("Caching the block4_pool outputs of 40 images"),
        "{out}"
    );
    assert!(out.contains("Trainable params: 7,211,009"), "{out}");
    assert!(finetune.join("test_metrics.json").is_file());

    let test_zip = dir.path().join("test1.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&test_zip).unwrap());
    writer
        .start_file("test1/1.jpg", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut writer, &std::fs::read(&cat).unwrap()).unwrap();
    writer.finish().unwrap();
    let csv = dir.path().join("submission.csv");
    catsdogs(&cli::submit_args(&run, &test_zip, &csv));
    let written = std::fs::read_to_string(&csv).unwrap();
    assert!(written.starts_with("id,label\n1,0."), "{written}");
}

#[test]
fn train_augments_the_training_images_as_asked_and_refuses_unknown_arguments_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = cli::sample_split(dir.path(), 20, [20, 10, 10]);
    let run = dir.path().join("runs/augmented");
    let args = [&cli::train_args(&data, &run)[..], &["--augment", "classic"]].concat();
    let out = catsdogs(&args);
    let train = data.join("train");
    let note = format!(
        "The images of {} are augmented, new every epoch: their features are not cached, and every step on them runs the whole network.",
        train.display()
    );
    assert_eq!(out.matches(&note).count(), 1, "{out}");
    assert!(
        out.contains("Caching the block5_pool outputs of 10 images"),
        "the validation features stay cached: {out}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(config["augment"], "classic");

    // Resuming with another augmentation is refused, naming the flag.
    let other = [
        &cli::train_args(&data, &run)[..],
        &["--augment", "classic,vertical_flip=True", "--resume"],
    ]
    .concat();
    let refused = cli::refused(&cli::catsdogs(&other));
    assert!(
        refused.contains(
            "the training images' augmentation is rotation_range=40.0, width_shift_range=0.2, \
             height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True, \
             vertical_flip=True, the checkpoint's rotation_range=40.0, width_shift_range=0.2, \
             height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True \
             (--augment, or RunOptions::augment)"
        ),
        "{refused}"
    );

    // A bad argument is one sentence, before the run folder is made.
    let fresh = dir.path().join("runs/refused");
    for (arguments, expected) in [
        (
            "rotate=40",
            "unknown augmentation argument \"rotate\": use Keras's ImageDataGenerator names",
        ),
        ("zoom_range=[1.2,0.8]", "is in the wrong order"),
    ] {
        let args = [
            &cli::train_args(&data, &fresh)[..],
            &["--augment", arguments],
        ]
        .concat();
        let error = cli::refused(&cli::catsdogs(&args));
        assert!(error.contains(expected), "{arguments}: {error}");
        assert!(!fresh.exists());
    }
}
