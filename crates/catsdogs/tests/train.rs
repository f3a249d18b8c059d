//! Training on the built-in synthetic sample, at 32x32 with a randomly initialised VGG16 base so
//! that each run takes seconds: the frozen experiment learns the sample, cached training equals
//! uncached training, a resumed run equals an uninterrupted one, evaluation and prediction stop
//! when asked, a NaN loss stops the run with the epoch and step, and a submission CSV matches
//! `predict`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use catsdogs::applications::Backbone;
use catsdogs::data::{
    sample, split, DirectoryIterator, FlowOptions, ImageDataGenerator, Preprocess, SampleOptions,
    SplitOptions,
};
use catsdogs::experiments::{Experiment, RunOptions};
use catsdogs::features;
use catsdogs::interrupt;
use catsdogs::losses::Loss;
use catsdogs::model::Model;
use catsdogs::optimizers::RMSprop;
use catsdogs::precision::{Compute, Precision};
use catsdogs::train::FitOptions;
use catsdogs::History;
use tch::{Device, Tensor};

const SIZE: u32 = 32;

/// libtorch's random generator and the interrupt flag are one per process, and tests run on
/// parallel threads: every test that builds or trains a model holds this lock.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sample (300 cats, 300 dogs) split 400/100/100 into `data/` and 60/20/20 into
/// `small/`, with their 32x32 image caches built.
fn sample_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let zip = dir.join("train.zip");
        sample(&zip, &SampleOptions::default()).unwrap();
        for (name, sizes) in [("data", (400, 100, 100)), ("small", (60, 20, 20))] {
            let data = dir.join(name);
            split(&zip, &data, &SplitOptions::sizes(sizes.0, sizes.1, sizes.2)).unwrap();
            for split in ["train", "validation", "test"] {
                flow(&data.join(split), 50, true);
            }
        }
        dir
    })
}

/// The harder sample (classes that overlap), split 400/100/100.
fn hard_data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let zip = dir.join("train.zip");
        let hard = SampleOptions {
            hard: true,
            ..SampleOptions::default()
        };
        sample(&zip, &hard).unwrap();
        split(&zip, &dir.join("data"), &SplitOptions::sizes(400, 100, 100)).unwrap();
        dir.join("data")
    })
}

/// The 400/100/100 split, for the accuracy of the frozen experiment.
fn data() -> PathBuf {
    sample_dir().join("data")
}

fn flow(dir: &Path, batch_size: usize, shuffle: bool) -> DirectoryIterator {
    let options = FlowOptions::default()
        .target_size(SIZE, SIZE)
        .batch_size(batch_size)
        .shuffle(shuffle);
    ImageDataGenerator::new(Preprocess::Vgg16)
        .flow_from_directory(dir, options)
        .unwrap()
}

/// Train (shuffled) and validation flows of the 60/20/20 split, 3 steps of 20 an epoch.
fn flows() -> (DirectoryIterator, DirectoryIterator) {
    let small = sample_dir().join("small");
    (
        flow(&small.join("train"), 20, true),
        flow(&small.join("validation"), 20, false),
    )
}

/// A random VGG16 base for 32x32 images.
fn base() -> Model {
    Backbone::Vgg16
        .application(false)
        .input_size(i64::from(SIZE), i64::from(SIZE))
        .build(Device::Cpu)
        .unwrap()
}

/// The tutorial's model for `experiment` on a random 32x32 base, compiled at `lr`.
fn model(experiment: Experiment, seed: i64, lr: f64) -> Model {
    tch::manual_seed(seed);
    let mut model = experiment.model(base()).unwrap();
    model.compile(RMSprop::new(lr), Loss::BinaryCrossentropy);
    model
}

fn weights(model: &Model) -> Vec<(String, Tensor)> {
    model.named_parameters()
}

fn max_difference(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Histories without the seconds, which always differ.
fn metrics(history: &History) -> Vec<[f64; 4]> {
    (0..history.len())
        .map(|e| {
            [
                history.loss()[e],
                history.acc()[e],
                history.val_loss()[e],
                history.val_acc()[e],
            ]
        })
        .collect()
}

#[test]
fn frozen_experiment_learns_the_sample_and_writes_its_run_folder() {
    let _serial = serial();
    let out = tempfile::tempdir().unwrap();
    let mut options = RunOptions::new(Experiment::Frozen, data(), out.path());
    options.epochs = 10;
    options.target_size = Some((SIZE, SIZE));
    let report = catsdogs::experiments::run(&options).unwrap();
    let (test_loss, test_acc) = report.test.unwrap();
    assert!(test_acc >= 0.9, "test accuracy {test_acc}");
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("test_metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["test_loss"], test_loss);
    assert_eq!(written["test_acc"], test_acc);
    let history = History::load(out.path().join("history.json")).unwrap();
    assert_eq!(history, report.history);
    assert_eq!(history.len(), 10);
    let checkpoint = catsdogs::train::Checkpoint::latest(out.path().join("checkpoints"))
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.epoch, 10);
    assert_eq!(checkpoint.history, history);
    assert!(std::fs::read(out.path().join("curves.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));

    // The saved model, loaded with its run.json, evaluates to the same test metrics.
    let again = catsdogs::experiments::evaluate(
        out.path(),
        &data(),
        50,
        None,
        Precision::Auto,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(again, (test_loss, test_acc));
}

/// Asserts that two runs agree: every epoch's metrics within 1e-5, and the updated weights
/// within 1e-5 of their scale.
fn assert_trained_alike(
    case: &str,
    (a, a_history): (&Model, &History),
    (b, b_history): (&Model, &History),
) {
    for (x, y) in metrics(a_history).iter().zip(metrics(b_history)) {
        for (u, v) in x.iter().zip(y) {
            assert!((u - v).abs() < 1e-5, "{case}: {x:?} vs {y:?}");
        }
    }
    for ((name, u), (_, v)) in weights(a).iter().zip(weights(b)) {
        let scale = u.abs().max().double_value(&[]).max(1e-3);
        assert!(max_difference(u, &v) / scale < 1e-5, "{case} {name}");
    }
}

/// Trains `epochs` epochs of `experiment` with the cache on (in memory or, with a zero
/// budget, on disk) or off, and returns the trained model and its History.
fn train_with_cache(
    experiment: Experiment,
    epochs: usize,
    cache: Option<u64>,
    cache_dir: &Path,
    compute: Compute,
) -> (Model, History) {
    let (train, validation) = flows();
    let mut model = model(experiment, 3, 1e-4).with_compute(compute);
    features::clear();
    let mut options = FitOptions::default()
        .seed(5)
        .cache(cache.is_some())
        .cache_dir(cache_dir);
    if let Some(budget) = cache {
        options = options.cache_memory(budget);
    }
    let history = model
        .fit_with(&train, epochs, &validation, options)
        .unwrap();
    (model, history)
}

#[test]
fn cached_training_equals_the_full_network_at_both_cuts() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let computes = [Compute::FP32, Compute::BF16];
    for compute in computes {
        for (experiment, epochs, layer) in [
            (Experiment::Frozen, 2, "block5_pool"),
            (Experiment::Finetune, 1, "block4_pool"),
        ] {
            let case = format!("{experiment:?} in {compute}");
            let train = |cache| train_with_cache(experiment, epochs, cache, dir.path(), compute);
            let (full, full_history) = train(None);
            assert!(features::entries().is_empty());
            let (cached, cached_history) = train(Some(1 << 30));
            let entries = features::entries();
            assert_eq!(entries.len(), 2, "train and validation features");
            for features in entries {
                assert_eq!(features.layer(), layer);
                assert_eq!(features.location(), "CPU memory");
                // A copy in memory; the features are on disk all the same.
                let file = features.file().expect("written to disk");
                assert_eq!(file.parent(), Some(dir.path()));
            }
            assert_trained_alike(&case, (&full, &full_history), (&cached, &cached_history));
            // The last step's gradients agree.
            for ((name, a), (_, b)) in weights(&full).iter().zip(weights(&cached)) {
                if a.requires_grad() {
                    let (ga, gb) = (a.grad(), b.grad());
                    let scale = ga.abs().max().double_value(&[]).max(1e-6);
                    assert!(
                        max_difference(&ga, &gb) / scale < 1e-4,
                        "{case} grad {name}"
                    );
                }
            }
            // The same features, found in their memory-mapped files by a run that keeps no copy
            // in memory (as a new process would), give bit-identical training.
            let (on_disk, disk_history) = train(Some(0));
            assert!(features::entries().iter().all(|f| f.on_disk()));
            assert_eq!(metrics(&disk_history), metrics(&cached_history), "{case}");
            for ((name, a), (_, b)) in weights(&cached).iter().zip(weights(&on_disk)) {
                assert_eq!(max_difference(a, &b), 0.0, "{case} {name}");
            }
        }
    }
    // Without room in memory or on disk (the folder cannot be made), the full network runs.
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, b"").unwrap();
    let nowhere = not_a_folder.join("x");
    train_with_cache(Experiment::Frozen, 1, Some(0), &nowhere, Compute::FP32);
    assert!(features::entries().is_empty());
    // A second run finds the files written by the first; features computed in one precision
    // are never read as another's: each precision has its own.
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(
        files,
        4 * computes.len() + 1,
        "train and validation features at two cuts in each precision, and the file"
    );
}

/// The inode of each feature file under `dir`: a file computed again is a new file (written
/// atomically), so an unchanged inode means the file was reused.
fn feature_inodes(dir: &Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut files: Vec<(String, u64)> = features::feature_files(dir)
        .into_iter()
        .map(|f| (f.key, std::fs::metadata(&f.path).unwrap().ino()))
        .collect();
    files.sort();
    files
}

#[test]
fn features_on_disk_serve_other_head_settings_and_stay_within_the_disk_budget() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (train, validation) = flows();
    let options = || FitOptions::default().seed(2).cache_dir(dir.path());
    features::clear();
    let fp32 = |model: Model| model.with_compute(Compute::FP32);
    let mut first = fp32(model(Experiment::Frozen, 3, 1e-4));
    first.fit_with(&train, 1, &validation, options()).unwrap();
    let written = feature_inodes(dir.path());
    assert_eq!(written.len(), 2, "train and validation features");
    let listed = features::feature_files(dir.path());
    let layers: Vec<_> = listed.iter().map(|f| f.layer.as_deref()).collect();
    assert_eq!(layers, [Some("block5_pool"), Some("block5_pool")]);
    let mut images: Vec<_> = listed.iter().map(|f| f.images).collect();
    images.sort();
    assert_eq!(images, [Some(20), Some(60)]);

    // As a new kernel would (nothing in memory), with another learning rate, dropout, number of
    // epochs and a callback: the same base finds the same files, read from their maps.
    let reruns: [Box<dyn Fn() -> Model>; 2] = [
        Box::new(move || fp32(model(Experiment::Frozen, 3, 3e-4))),
        Box::new(move || {
            tch::manual_seed(3);
            let mut other = catsdogs::model::Sequential::new(&base())
                .flatten()
                .dropout(0.2)
                .dense(16, catsdogs::model::Activation::Relu)
                .dense(1, catsdogs::model::Activation::Sigmoid);
            other.freeze_base();
            other.compile(RMSprop::new(1e-3), Loss::BinaryCrossentropy);
            fp32(other)
        }),
    ];
    for rerun in reruns {
        features::clear();
        let mut again = rerun();
        let callback = catsdogs::train::callbacks::EarlyStopping::new("val_loss").patience(1);
        let options = options().callback(callback);
        again.fit_with(&train, 2, &validation, options).unwrap();
        assert_eq!(feature_inodes(dir.path()), written, "computed again");
        let entries = features::entries();
        assert_eq!(entries.len(), 2);
        assert!(
            entries.iter().all(|f| f.on_disk()),
            "the CPU reads the maps"
        );
    }

    // Fine-tuning's block4 features within a budget that holds them and little more: the
    // frozen experiment's files, used longest ago, make room; a file of our naming that is not
    // a feature file, and any other file, stay.
    let decoy = dir.path().join(format!("features-{}.bin", "0".repeat(64)));
    let notes = dir.path().join("notes.txt");
    for file in [&decoy, &notes] {
        std::fs::write(file, b"not a feature file").unwrap();
    }
    let block4_bytes = 80 * 2 * 2 * 512 * 4;
    features::clear();
    let mut finetune = fp32(model(Experiment::Finetune, 3, 1e-4));
    let within = options().cache_disk(block4_bytes + 2000);
    finetune.fit_with(&train, 1, &validation, within).unwrap();
    let left = features::feature_files(dir.path());
    let layers: Vec<_> = left.iter().map(|f| f.layer.as_deref()).collect();
    assert_eq!(layers, [Some("block4_pool"), Some("block4_pool")]);
    assert!(decoy.is_file() && notes.is_file());

    // With a budget below the features' size, nothing is written: the features stay in
    // memory when the memory budget allows, else every step runs the whole network.
    let before = feature_inodes(dir.path());
    for (memory, in_memory) in [(1u64 << 30, 2), (0, 0)] {
        features::clear();
        let mut model = fp32(model(Experiment::Finetune, 4, 1e-4));
        let options = options().cache_disk(1000).cache_memory(memory);
        model.fit_with(&train, 1, &validation, options).unwrap();
        let entries = features::entries();
        assert_eq!(entries.len(), in_memory);
        assert!(entries.iter().all(|f| f.file().is_none() && !f.on_disk()));
        assert_eq!(feature_inodes(dir.path()), before);
    }
}

/// Augmented training images are new every epoch, so their features are never cached, at
/// either cut; the validation images are fixed, so theirs stay cached. Which shortcuts remain
/// exact: a run with the cache on equals the whole network at every step (the slow path), the
/// validation's cached features giving the same val_loss as the whole network on its
/// unaugmented images; and the augmentation does train on other images than the plain run.
#[test]
fn augmented_training_runs_the_whole_network_and_caches_only_validation() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let small = sample_dir().join("small");
    let options = FlowOptions::default()
        .target_size(SIZE, SIZE)
        .batch_size(20);
    let augmented = ImageDataGenerator::classic(Preprocess::Vgg16)
        .flow_from_directory(small.join("train"), options)
        .unwrap();
    let (plain, validation) = flows();
    for (experiment, layer) in [
        (Experiment::Frozen, "block5_pool"),
        (Experiment::Finetune, "block4_pool"),
    ] {
        let fit = |train: &DirectoryIterator, cache: bool| {
            let mut model = model(experiment, 3, 1e-4);
            features::clear();
            let options = FitOptions::default()
                .seed(5)
                .cache(cache)
                .cache_dir(dir.path());
            let history = model.fit_with(train, 2, &validation, options).unwrap();
            (model, history)
        };
        let (full, full_history) = fit(&augmented, false);
        assert!(features::entries().is_empty());
        let (cached, cached_history) = fit(&augmented, true);
        let entries = features::entries();
        assert_eq!(
            entries.len(),
            1,
            "{experiment:?}: validation's features only"
        );
        assert_eq!(entries[0].layer(), layer);
        assert_eq!(entries[0].len(), validation.samples());
        let case = format!("{experiment:?}, augmented");
        assert_trained_alike(&case, (&full, &full_history), (&cached, &cached_history));
        let (_, plain_history) = fit(&plain, true);
        assert_ne!(
            plain_history.loss(),
            cached_history.loss(),
            "{experiment:?}: the augmented run trains on other images"
        );
    }
}

/// Training in bf16 follows fp32 on the same seed, for both experiments, on classes that
/// overlap (where fp32 lands well below 100%, so that a difference would show): every epoch's
/// loss and val_loss within 5% (relative), the test accuracy within 2 points.
#[test]
fn bf16_training_follows_fp32_where_the_classes_overlap() {
    let _serial = serial();
    for experiment in [Experiment::Frozen, Experiment::Finetune] {
        let run = |compute| {
            let out = tempfile::tempdir().unwrap();
            let options = RunOptions {
                epochs: 3,
                target_size: Some((SIZE, SIZE)),
                lr: Some(2e-5),
                compute: Some(compute),
                ..RunOptions::new(experiment, hard_data(), out.path())
            };
            catsdogs::experiments::run(&options).unwrap()
        };
        let (fp32, bf16) = (run(Compute::FP32), run(Compute::BF16));
        let (_, fp32_acc) = fp32.test.unwrap();
        let (_, bf16_acc) = bf16.test.unwrap();
        assert!(
            fp32_acc < 0.95,
            "{experiment:?}: the sample is not hard ({fp32_acc})"
        );
        for (a, b) in metrics(&fp32.history).iter().zip(metrics(&bf16.history)) {
            for (x, y) in [(a[0], b[0]), (a[2], b[2])] {
                assert!((x - y).abs() / x < 0.05, "{experiment:?}: {a:?} vs {b:?}");
            }
        }
        assert!(
            (fp32_acc - bf16_acc).abs() <= 0.02 + 1e-9,
            "{experiment:?}: test accuracy {fp32_acc} in fp32, {bf16_acc} in bf16"
        );
    }
}

#[test]
fn evaluate_reuses_the_cache_and_matches_the_last_validation_and_predict() {
    let _serial = serial();
    let (train, validation) = flows();
    let mut model = model(Experiment::Frozen, 4, 1e-4);
    let history = model
        .fit_with(&train, 1, &validation, FitOptions::default().seed(1))
        .unwrap();
    let (val_loss, val_acc) = (history.val_loss()[0], history.val_acc()[0]);
    assert_eq!(model.evaluate(&validation).unwrap(), (val_loss, val_acc));
    let p = model.predict_generator(&validation).unwrap();
    let labels: Vec<f32> = validation.classes.iter().map(|&c| c as f32).collect();
    let correct = p.gt(0.5).eq_tensor(&Tensor::from_slice(&labels).gt(0.5));
    let acc = correct.to_kind(tch::Kind::Float).mean(tch::Kind::Float);
    assert!((acc.double_value(&[]) - val_acc).abs() < 1e-9);
}

#[test]
fn evaluate_and_predict_stop_when_asked_and_say_so() {
    let _serial = serial();
    let (_, validation) = flows();
    let model = model(Experiment::Frozen, 5, 1e-4);
    let at = format!("on {}, step 1/1", validation.directory.display());
    let rest = "it keeps no partial result, so run it again to start over";
    interrupt::request();
    let error = model.evaluate(&validation).unwrap_err().to_string();
    assert_eq!(error, format!("interrupted while evaluating {at}; {rest}"));
    interrupt::request();
    let error = model
        .predict_generator(&validation)
        .unwrap_err()
        .to_string();
    assert_eq!(error, format!("interrupted while predicting {at}; {rest}"));
    assert!(model.predict_generator(&validation).is_ok());
}

#[test]
fn recompiling_after_unfreezing_block5_trains_block5_and_moves_the_cut() {
    let _serial = serial();
    let (train, validation) = flows();
    let mut model = model(Experiment::Frozen, 7, 1e-4);
    model
        .fit_with(&train, 1, &validation, FitOptions::default())
        .unwrap();
    let before = weights(&model);
    let before: Vec<(String, Tensor)> = before.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
    model.trainable_from("block5_conv1").unwrap();
    model.compile(RMSprop::new(1e-5), Loss::BinaryCrossentropy);
    features::clear();
    model.fit(&train, 1, &validation).unwrap();
    let entries = features::entries();
    let layers: Vec<&str> = entries.iter().map(|f| f.layer()).collect();
    assert_eq!(layers, ["block4_pool", "block4_pool"]);
    for ((name, old), (_, new)) in before.iter().zip(weights(&model)) {
        let changed = max_difference(old, &new) > 0.0;
        let trainable = name.starts_with("block5") || name.starts_with("dense");
        assert_eq!(changed, trainable, "{name}");
    }
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    for compute in [Compute::FP32, Compute::BF16] {
        resumed_equals_uninterrupted(compute);
    }
}

fn resumed_equals_uninterrupted(compute: Compute) {
    let _serial = serial();
    let (train, validation) = flows();
    let dir = tempfile::tempdir().unwrap();
    let options = |name: &str| {
        FitOptions::default()
            .seed(9)
            .checkpoints(dir.path().join(name))
            .resume(true)
    };
    let model = |seed| model(Experiment::Finetune, seed, 1e-4).with_compute(compute);
    let mut straight = model(1);
    let full = straight
        .fit_with(&train, 2, &validation, options("straight"))
        .unwrap();

    let mut first = model(1);
    first
        .fit_with(&train, 1, &validation, options("resumed"))
        .unwrap();
    // Ctrl-C during epoch 2 abandons it and says how to go on.
    interrupt::stop_on_ctrl_c();
    // SAFETY: raising a signal whose handler was just installed.
    assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
    let message = first
        .fit_with(&train, 2, &validation, options("resumed"))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(
            "interrupted at epoch 2/2, step 1/3 (that epoch is not saved); epoch 1 is saved in"
        ),
        "{message}"
    );
    assert!(message.contains("FitOptions::resume(true)"), "{message}");
    drop(first);

    // A new process: another initialisation, which the checkpoint overwrites.
    let mut resumed = model(2);
    let history = resumed
        .fit_with(&train, 2, &validation, options("resumed"))
        .unwrap();
    assert_eq!(metrics(&history), metrics(&full));
    for ((name, a), (_, b)) in weights(&straight).iter().zip(weights(&resumed)) {
        assert_eq!(max_difference(a, &b), 0.0, "{name}");
    }

    // Without resume, an existing run is not overwritten; with another seed, not resumed.
    let error = resumed
        .fit_with(&train, 3, &validation, options("resumed").resume(false))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("already holds a checkpoint after epoch 2"),
        "{error}"
    );
    let error = resumed
        .fit_with(&train, 3, &validation, options("resumed").seed(10))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the seed is 10, the checkpoint's 9 (--seed, or FitOptions::seed)"),
        "{error}"
    );

    // FRESH starts over: the epoch folders that the checkpoints wrote go, anything else in the
    // folder stays, and the run trains from its first epoch as the straight run did.
    let notes = dir.path().join("resumed").join("notes.txt");
    std::fs::write(&notes, b"not the run's").unwrap();
    let mut fresh = model(1);
    let again = fresh
        .fit_with(&train, 2, &validation, options("resumed").fresh(true))
        .unwrap();
    assert_eq!(metrics(&again), metrics(&full));
    assert_eq!(std::fs::read(&notes).unwrap(), b"not the run's");
}

#[test]
fn a_nan_loss_stops_the_run_naming_the_epoch_and_step() {
    let _serial = serial();
    let (train, validation) = flows();
    let mut model = model(Experiment::Frozen, 1, 1e39);
    let error = model
        .fit_with(&train, 2, &validation, FitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("the loss became NaN at epoch 1/2, step 2/3, so training stopped"),
        "{error}"
    );
    assert!(error.contains("lower the learning rate"), "{error}");
}

#[test]
fn a_submission_lists_every_test_image_by_id_with_its_dog_probability() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // A small test1.zip: Kaggle's names, out of order, plus a folder entry and a stray file.
    let images: Vec<PathBuf> = ["cats", "dogs"]
        .iter()
        .flat_map(|class| {
            let folder = data().join("test").join(class);
            let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            files.into_iter().take(3)
        })
        .collect();
    let zip_path = dir.path().join("test1.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.add_directory("test1/", options).unwrap();
    let ids = [10u64, 2, 7, 1, 12, 3];
    for (id, image) in ids.iter().zip(&images) {
        zip.start_file(format!("test1/{id}.jpg"), options).unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(image).unwrap()).unwrap();
    }
    zip.start_file("test1/readme.txt", options).unwrap();
    zip.finish().unwrap();

    let model = {
        tch::manual_seed(6);
        Experiment::Frozen
            .model(base())
            .unwrap()
            .with_preprocess(Preprocess::Vgg16)
    };
    let out = dir.path().join("submission.csv");
    let report = catsdogs::train::submit::submit(&model, &zip_path, &out, 4).unwrap();
    assert_eq!(report.rows, 6);
    assert_eq!(report.skipped, ["test1/readme.txt"]);
    let expected = model
        .predict(&catsdogs::train::load_images(&images, (SIZE, SIZE), Preprocess::Vgg16).unwrap())
        .unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,label"));
    let mut by_id: Vec<(u64, usize)> = ids.iter().copied().zip(0..).collect();
    by_id.sort();
    for (line, (id, index)) in lines.zip(&by_id) {
        let (got_id, label) = line.split_once(',').unwrap();
        assert_eq!(got_id, id.to_string());
        // Batches of 4 here and of 32 in predict round differently in the last bits.
        let label: f64 = label.parse().unwrap();
        let expected = expected.double_value(&[*index as i64]);
        assert!(
            (label - expected).abs() < 1e-6,
            "id {id}: {label} vs {expected}"
        );
    }
    assert_eq!(csv.lines().count(), 7);
}

/// The callbacks of the resume test: early stopping and learning-rate reductions that do not
/// depend on the numbers (a min_delta of 10 makes only the first epoch an improvement), and
/// the loggers, writing into `dir`.
fn callbacks_options(dir: &Path) -> FitOptions {
    use catsdogs::train::callbacks::{
        CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TensorBoard,
    };
    FitOptions::default()
        .seed(9)
        .checkpoints(dir.join("checkpoints"))
        .resume(true)
        .callback(
            ReduceLROnPlateau::new("val_loss")
                .factor(0.5)
                .patience(1)
                .min_delta(10.0),
        )
        .callback(
            EarlyStopping::new("val_loss")
                .min_delta(10.0)
                .patience(3)
                .restore_best_weights(true),
        )
        .callback(CSVLogger::new(dir.join("log.csv")))
        .callback(TensorBoard::new(dir.join("logs")))
        .callback(
            ModelCheckpoint::new(dir.join("best-{epoch:02d}.safetensors").to_str().unwrap())
                .monitor("val_acc")
                .save_best_only(true),
        )
}

#[test]
fn a_resumed_run_with_callbacks_equals_an_uninterrupted_one() {
    let _serial = serial();
    let (train, validation) = flows();
    let dir = tempfile::tempdir().unwrap();
    let (straight_dir, resumed_dir) = (dir.path().join("straight"), dir.path().join("resumed"));
    let mut straight = model(Experiment::Frozen, 1, 1e-4);
    let full = straight
        .fit_with(&train, 8, &validation, callbacks_options(&straight_dir))
        .unwrap();
    // Stopped after epoch 4 (from 1): three epochs without improving on the first, whose
    // weights came back; the learning rate halved after each of those.
    assert_eq!(full.len(), 4);
    assert_eq!(full.metric("lr"), [1e-4, 1e-4, 5e-5, 2.5e-5]);
    let stopped = full.stopped.clone().unwrap();
    assert!(
        stopped.starts_with("EarlyStopping: val_loss did not improve for 3 epoch(s) after epoch 1"),
        "{stopped}"
    );

    let mut first = model(Experiment::Frozen, 1, 1e-4);
    first
        .fit_with(&train, 2, &validation, callbacks_options(&resumed_dir))
        .unwrap();
    interrupt::stop_on_ctrl_c();
    // SAFETY: raising a signal whose handler was just installed.
    assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
    let interrupted = first.fit_with(&train, 8, &validation, callbacks_options(&resumed_dir));
    let message = interrupted.unwrap_err().to_string();
    assert!(message.starts_with("interrupted at epoch 3/8"), "{message}");
    drop(first);
    let mut resumed = model(Experiment::Frozen, 2, 1e-4);
    let history = resumed
        .fit_with(&train, 8, &validation, callbacks_options(&resumed_dir))
        .unwrap();
    assert_eq!(
        (&history.epoch, &history.history),
        (&full.epoch, &full.history)
    );
    assert_eq!(history.stopped, full.stopped);
    for ((name, a), (_, b)) in weights(&straight).iter().zip(weights(&resumed)) {
        assert_eq!(max_difference(a, &b), 0.0, "{name}");
    }
    let text = |run: &Path, file: &str| std::fs::read_to_string(run.join(file)).unwrap();
    assert_eq!(
        text(&resumed_dir, "log.csv"),
        text(&straight_dir, "log.csv")
    );

    // Resuming the stopped run trains no further and gives the same model again.
    let again = resumed
        .fit_with(&train, 8, &validation, callbacks_options(&resumed_dir))
        .unwrap();
    assert_eq!(again, history);
    for ((name, a), (_, b)) in weights(&straight).iter().zip(weights(&resumed)) {
        assert_eq!(max_difference(a, &b), 0.0, "{name}");
    }
    // ModelCheckpoint saved the same epochs, the first always.
    let best = |run: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("best-"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(best(&resumed_dir), best(&straight_dir));
    assert_eq!(best(&straight_dir)[0], "best-01.safetensors");

    // The CSV as Python's csv module reads it, and the event files as TensorBoard reads them.
    let read = common::run_python(READ_LOGS, &[straight_dir.to_str().unwrap()]);
    let read: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(
        read["header"],
        serde_json::json!(["epoch", "acc", "loss", "lr", "val_acc", "val_loss"])
    );
    for (name, column) in [
        ("acc", 1),
        ("loss", 2),
        ("lr", 3),
        ("val_acc", 4),
        ("val_loss", 5),
    ] {
        let values: Vec<f64> = read["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[column].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(values, full.metric(name), "{name}");
    }
    for (run, tag, metric) in [
        ("train", "epoch_loss", "loss"),
        ("train", "epoch_acc", "acc"),
        ("train", "epoch_learning_rate", "lr"),
        ("train", "epoch_lr", "lr"),
        ("validation", "epoch_loss", "val_loss"),
        ("validation", "epoch_acc", "val_acc"),
    ] {
        let scalars = &read["tensorboard"][run][tag];
        let steps: Vec<u64> = scalars["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        assert_eq!(steps, [0, 1, 2, 3], "{run} {tag}");
        let values: Vec<f32> = scalars["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let expected: Vec<f32> = full.metric(metric).iter().map(|&v| v as f32).collect();
        assert_eq!(values, expected, "{run} {tag}");
        assert_eq!(scalars["plugin"], "scalars");
    }
}

/// Reads a run's `log.csv` with Python's csv module and its `logs/train` and
/// `logs/validation` event files with TensorBoard's own EventAccumulator.
const READ_LOGS: &str = r#"
import csv, json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util
run = sys.argv[1]
with open(f"{run}/log.csv", newline="") as f:
    rows = list(csv.reader(f))
out = {"header": rows[0], "rows": rows[1:], "tensorboard": {}}
for name in ["train", "validation"]:
    acc = EventAccumulator(f"{run}/logs/{name}")
    acc.Reload()
    out["tensorboard"][name] = {
        tag: {
            "steps": [e.step for e in acc.Tensors(tag)],
            "values": [float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)],
            "plugin": acc.SummaryMetadata(tag).plugin_data.plugin_name,
        }
        for tag in acc.Tags()["tensors"]
    }
print(json.dumps(out))
"#;

#[test]
fn a_terminate_on_nan_of_ones_own_takes_the_place_of_fits() {
    let _serial = serial();
    let (train, validation) = flows();
    let dir = tempfile::tempdir().unwrap();
    let mut model = model(Experiment::Frozen, 1, 1e-4);
    let options = FitOptions::default()
        .checkpoints(dir.path())
        .callback(catsdogs::train::callbacks::TerminateOnNaN::default());
    model.fit_with(&train, 1, &validation, options).unwrap();
    let state = std::fs::read_to_string(dir.path().join("epoch-0001/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(
        state["settings"]["callbacks"],
        serde_json::json!([
            "StopButton",
            "ProgbarLogger",
            "TerminateOnNaN",
            "RecordHistory",
            "BackupAndRestore"
        ])
    );
}
