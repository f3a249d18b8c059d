//! The training subcommands: `train`, `evaluate`, `predict` and `submit`, over
//! `catsdogs::train` (`predict` reads Keras's model files too, see `model.rs`).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use catsdogs::applications::Backbone;
use catsdogs::data::{self, Preprocess};
use catsdogs::experiments::{self, Experiment, RunOptions};
use catsdogs::features::CacheOptions;
use catsdogs::fsutil::refuse_inputs_as_outputs;
use catsdogs::interrupt;
use catsdogs::precision::Precision;
use catsdogs::train::callbacks::{
    CSVLogger, Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TensorBoard,
};
use catsdogs::train::{input_size, load_images, predict_files, submit};

/// `--cache on|off`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Switch {
    /// Cache the decoded images and the frozen layers' outputs.
    On,
    /// Write nothing: decode the images and run the whole network at every step.
    Off,
}

/// Whether and where the caches are written.
#[derive(clap::Args)]
pub struct Caching {
    /// Cache the decoded images and the outputs of the frozen layers (on disk, beside the
    /// data or in --cache-dir); off writes nothing, for a read-only data folder, and decodes
    /// the images and runs the whole network at every step.
    #[arg(long, value_enum, default_value = "on")]
    cache: Switch,
    /// The folder of the caches (default: DATA/.catsdogs-cache/, beside the split's folders).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// GiB of disk that the feature files of the cache folder may take (default 16); the
    /// ones used longest ago are removed first (`catsdogs cache list` shows them).
    #[arg(long, value_parser = parse_gib)]
    cache_disk: Option<f64>,
}

impl Caching {
    /// The cache options, with a memory budget for features in bytes (`None`: half the
    /// device's memory).
    fn options(self, memory_budget: Option<u64>) -> CacheOptions {
        CacheOptions {
            enabled: matches!(self.cache, Switch::On),
            memory_budget,
            disk_budget: self.cache_disk.map(gib_bytes),
            dir: self.cache_dir,
        }
    }
}

/// Training subcommands.
#[derive(Subcommand)]
pub enum TrainCommand {
    /// Train one of the tutorial's experiments on a split folder; writes run.json, the History
    /// (history.json), a checkpoint per epoch, curves.png, model.safetensors and
    /// test_metrics.json under --out.
    Train(Box<TrainArgs>),
    /// Print a trained model's loss and accuracy on a split's test folder (or any folder of
    /// class folders).
    Evaluate {
        /// A run folder or a model file.
        model: PathBuf,
        /// The split folder (its test/ is used) or a folder of class folders.
        #[arg(long)]
        data: PathBuf,
        /// Images per batch.
        #[arg(long, default_value_t = 50)]
        batch_size: usize,
        /// Print {"loss": ..., "acc": ...} at full precision instead of the line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reading: Reading,
        #[command(flatten)]
        caching: Caching,
    },
    /// Print runs side by side: experiment, backbone, precision, epochs run, best epoch, best
    /// val_acc, test accuracy and wall time of each.
    Runs {
        /// Run folders, or folders of runs (default: runs).
        dirs: Vec<PathBuf>,
        /// Print the runs as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the probability that each image is a dog; an image that cannot be read is said
    /// after the others, and fails the command (with --json, any model's raw outputs).
    Predict {
        /// A run folder, a model file, or a Keras .h5 or .keras model.
        model: PathBuf,
        /// Image files.
        #[arg(required_unless_present = "npy", conflicts_with = "npy")]
        images: Vec<PathBuf>,
        /// Images per batch: the memory taken is that of one batch, whatever the number of
        /// images.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// A ready input batch instead of images: float32, (images, height, width, 3), already
        /// preprocessed, as numpy.save writes it.
        #[arg(long)]
        npy: Option<PathBuf>,
        /// Print one JSON object {"outputs": [[..], ..]}: each input's raw outputs (maps as
        /// height, width, channels), for any model.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        reading: Reading,
    },
    /// Write Kaggle's submission (id,label with the probability of a dog) for test1.zip.
    Submit {
        /// A run folder or a model file.
        #[arg(long)]
        model: PathBuf,
        /// Kaggle's test1.zip.
        #[arg(long)]
        test_zip: PathBuf,
        /// The CSV to write.
        #[arg(long)]
        out: PathBuf,
        /// Images per batch.
        #[arg(long, default_value_t = 50)]
        batch_size: usize,
        #[command(flatten)]
        reading: Reading,
    },
}

/// Bytes in `gib` GiB.
fn gib_bytes(gib: f64) -> u64 {
    (gib * (1u64 << 30) as f64) as u64
}

/// A number of GiB: 0 or more, and finite.
fn parse_gib(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(gib) if gib.is_finite() && gib >= 0.0 => Ok(gib),
        _ => Err(format!(
            "{text:?} is not a size in GiB: give a number of 0 or more, such as 4"
        )),
    }
}

/// The options of `catsdogs train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// frozen (conv base frozen, lr 2e-5) or finetune (the last stage trainable, block5 in VGG,
    /// lr 1e-5).
    #[arg(long, value_parser = str::parse::<Experiment>)]
    experiment: Experiment,
    /// The split folder, with train/, validation/ and test/.
    #[arg(long)]
    data: PathBuf,
    /// The conv base's network: vgg16 (the tutorial's, the default), vgg19, resnet50 or
    /// mobilenet_v2; with --from, that run's.
    #[arg(long, value_parser = str::parse::<Backbone>)]
    backbone: Option<Backbone>,
    /// The base's weights (Keras .h5, torchvision .pth or safetensors). Without them the base
    /// is random.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Start from this frozen run's trained model (folder or model file), base and weights
    /// included, instead of a new head (so without --weights).
    #[arg(long)]
    from: Option<PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    /// Learning rate (default: the experiment's).
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of the head's initialisation, the epoch orders and the dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    caching: Caching,
    /// GiB of device memory for copies of the cached features (default: half a GPU's, none
    /// on the CPU); beyond it they are read from their memory-mapped files.
    #[arg(long, value_parser = parse_gib)]
    cache_memory: Option<f64>,
    /// HEIGHTxWIDTH of the images (default 224x224; with --from, that run's).
    #[arg(long, value_parser = data::parse_target_size)]
    target_size: Option<(u32, u32)>,
    /// Continue from the run's latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// fp32, bf16 (where the CPU or GPU has it), fp16 (CUDA) or auto (bf16 where it is fast,
    /// else fp32).
    #[arg(long, default_value = "auto", value_parser = str::parse::<Precision>)]
    precision: Precision,
    /// The run folder, e.g. runs/frozen.
    #[arg(long)]
    out: PathBuf,
    /// Augment the training images with Keras's ImageDataGenerator arguments, e.g.
    /// rotation_range=40,width_shift_range=0.2,zoom_range=[0.8,1.2],horizontal_flip=True; or
    /// classic (rotation 40, shifts 0.2, shear 0.2, zoom 0.2, horizontal flips, fill nearest).
    #[arg(long, value_name = "ARGS")]
    augment: Option<String>,
    #[command(flatten)]
    callbacks: CallbackArgs,
}

/// Keras's callbacks for `catsdogs train`, each a group of flags that starts with its monitor.
#[derive(clap::Args)]
pub struct CallbackArgs {
    /// EarlyStopping: stop when this metric (loss, acc, val_loss or val_acc) stops improving.
    #[arg(long, value_name = "MONITOR")]
    early_stopping: Option<String>,
    /// EarlyStopping: epochs without improvement before stopping.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "early_stopping",
        allow_negative_numbers = true
    )]
    patience: usize,
    /// EarlyStopping: the least change that counts as an improvement.
    #[arg(
        long,
        value_name = "D",
        default_value_t = 0.0,
        requires = "early_stopping"
    )]
    min_delta: f64,
    /// EarlyStopping: put the best epoch's weights back when training ends.
    #[arg(long, requires = "early_stopping")]
    restore_best_weights: bool,
    /// EarlyStopping: epochs (from 0) before the metric is watched.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "early_stopping",
        allow_negative_numbers = true
    )]
    start_from_epoch: usize,
    /// EarlyStopping: a value the metric must beat.
    #[arg(
        long,
        value_name = "V",
        requires = "early_stopping",
        allow_negative_numbers = true
    )]
    baseline: Option<f64>,
    /// ReduceLROnPlateau: lower the learning rate when this metric stops improving.
    #[arg(long, value_name = "MONITOR")]
    reduce_lr_on_plateau: Option<String>,
    /// ReduceLROnPlateau: the factor the learning rate is multiplied by.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.1,
        requires = "reduce_lr_on_plateau",
        allow_negative_numbers = true
    )]
    lr_factor: f64,
    /// ReduceLROnPlateau: epochs without improvement before a reduction.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        requires = "reduce_lr_on_plateau",
        allow_negative_numbers = true
    )]
    lr_patience: usize,
    /// ReduceLROnPlateau: epochs after a reduction that are not counted.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "reduce_lr_on_plateau",
        allow_negative_numbers = true
    )]
    lr_cooldown: usize,
    /// ReduceLROnPlateau: the lowest learning rate.
    #[arg(
        long,
        value_name = "V",
        default_value_t = 0.0,
        requires = "reduce_lr_on_plateau",
        allow_negative_numbers = true
    )]
    min_lr: f64,
    /// ModelCheckpoint: save the model of the best epoch by this metric as best.safetensors
    /// in the run folder.
    #[arg(long, value_name = "MONITOR")]
    save_best: Option<String>,
    /// CSVLogger: write each epoch's logs as a row of this CSV file.
    #[arg(long, value_name = "FILE")]
    csv_log: Option<PathBuf>,
    /// TensorBoard: write each epoch's logs as event files into DIR/train and
    /// DIR/validation.
    #[arg(long, value_name = "DIR")]
    tensorboard: Option<PathBuf>,
}

impl CallbackArgs {
    /// The callbacks these flags ask for, the learning rate's first (so that the others see
    /// its `lr`), as `fit` calls them.
    fn callbacks(self, out: &std::path::Path) -> Vec<Box<dyn Callback>> {
        let mut callbacks: Vec<Box<dyn Callback>> = Vec::new();
        if let Some(monitor) = self.reduce_lr_on_plateau {
            let reduce = ReduceLROnPlateau::new(monitor)
                .factor(self.lr_factor)
                .patience(self.lr_patience)
                .cooldown(self.lr_cooldown)
                .min_lr(self.min_lr);
            callbacks.push(Box::new(reduce));
        }
        if let Some(monitor) = self.early_stopping {
            let mut early = EarlyStopping::new(monitor)
                .patience(self.patience)
                .min_delta(self.min_delta)
                .restore_best_weights(self.restore_best_weights)
                .start_from_epoch(self.start_from_epoch);
            if let Some(baseline) = self.baseline {
                early = early.baseline(baseline);
            }
            callbacks.push(Box::new(early));
        }
        if let Some(monitor) = self.save_best {
            let path = out.join("best.safetensors");
            let checkpoint = ModelCheckpoint::new(path.to_string_lossy())
                .monitor(monitor)
                .save_best_only(true);
            callbacks.push(Box::new(checkpoint));
        }
        if let Some(file) = self.csv_log {
            callbacks.push(Box::new(CSVLogger::new(file)));
        }
        if let Some(dir) = self.tensorboard {
            callbacks.push(Box::new(TensorBoard::new(dir)));
        }
        callbacks
    }
}

impl TrainArgs {
    /// The run these options ask for, and its callbacks.
    fn run_options(self) -> (RunOptions, Vec<Box<dyn Callback>>) {
        let budget = self.cache_memory.map(gib_bytes);
        let callbacks = self.callbacks.callbacks(&self.out);
        let options = RunOptions {
            backbone: self.backbone,
            weights: self.weights,
            from: self.from,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            seed: self.seed,
            target_size: self.target_size,
            cache: self.caching.options(budget),
            resume: self.resume,
            precision: self.precision,
            augment: self.augment,
            ..RunOptions::new(self.experiment, self.data, self.out)
        };
        (options, callbacks)
    }
}

/// How a trained model is run on images: their preprocessing and the layers' precision.
#[derive(clap::Args)]
pub struct Reading {
    /// none, vgg16 (caffe), torch or tf (default: the run's).
    #[arg(long, value_parser = str::parse::<Preprocess>)]
    preprocess: Option<Preprocess>,
    /// fp32, bf16, fp16 (CUDA) or auto.
    #[arg(long, default_value = "auto", value_parser = str::parse::<Precision>)]
    precision: Precision,
}

/// Runs a training subcommand.
pub fn run(command: TrainCommand) -> anyhow::Result<()> {
    match command {
        TrainCommand::Train(args) => {
            interrupt::stop_on_ctrl_c();
            let (options, callbacks) = (*args).run_options();
            let inputs: Vec<PathBuf> = options
                .weights
                .iter()
                .cloned()
                .chain(options.from.as_deref().map(experiments::model_file))
                .collect();
            let outputs = experiments::RUN_FILES.map(|name| options.out.join(name));
            let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
            let outputs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
            refuse_inputs_as_outputs(&inputs, &outputs)?;
            let report = experiments::run_with(&options, callbacks)?;
            out!("Wrote the run to {}", report.out.display());
        }
        TrainCommand::Evaluate {
            model,
            data,
            batch_size,
            json,
            reading: Reading {
                preprocess,
                precision,
            },
            caching,
        } => {
            let cache = caching.options(None);
            let (loss, acc) =
                experiments::evaluate(&model, &data, batch_size, preprocess, precision, &cache)?;
            if json {
                out!("{}", serde_json::json!({ "loss": loss, "acc": acc }));
            } else {
                out!("test_loss: {loss:.4} - test_acc: {acc:.4}");
            }
        }
        TrainCommand::Runs { dirs, json } => {
            let dirs = if dirs.is_empty() {
                vec![PathBuf::from("runs")]
            } else {
                dirs
            };
            let runs = experiments::runs(&dirs)?;
            if json {
                out!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                out!("{}", experiments::runs_table(&runs).to_string().trim_end());
            }
        }
        TrainCommand::Predict {
            model,
            images,
            batch_size,
            npy,
            json,
            reading: Reading {
                preprocess,
                precision,
            },
        } => {
            data::check_batch_size(batch_size)?;
            if json {
                catsdogs::console::set_verbose(0);
            }
            let path = model;
            let model = match &npy {
                Some(_) => experiments::load_saved(&path)?,
                None => experiments::load_any(&path, preprocess)?,
            }
            .with_precision(precision);
            if !json {
                experiments::expect_binary(&model, &path)?;
            }
            match (&npy, json) {
                (Some(npy), _) => {
                    let (x, names) = crate::model::npy_batch(npy, &model)?;
                    if json {
                        out!("{}", crate::model::outputs_json(&model, &x)?);
                        return Ok(());
                    }
                    let p = model.predict(&x)?;
                    for (i, name) in names.iter().enumerate() {
                        let dog = p.f_double_value(&[i as i64])?;
                        let class = if dog > 0.5 { "dog" } else { "cat" };
                        out!("{name}: {class} (dog probability {dog:.4})");
                    }
                }
                (None, true) => {
                    let x = load_images(&images, input_size(&model)?, model.preprocess())?;
                    out!("{}", crate::model::outputs_json(&model, &x)?);
                }
                (None, false) => predict_images(&model, &images, batch_size)?,
            }
        }
        TrainCommand::Submit {
            model,
            test_zip,
            out,
            batch_size,
            reading: Reading {
                preprocess,
                precision,
            },
        } => {
            refuse_inputs_as_outputs(&[&experiments::model_file(&model), &test_zip], &[&out])?;
            let model = experiments::load_trained(&model, preprocess)?.with_precision(precision);
            let report = submit::submit(&model, &test_zip, &out, batch_size)?;
            for skipped in &report.skipped {
                out!("Skipped {skipped}: not an image named N.jpg.");
            }
        }
    }
    Ok(())
}

/// Prints the probability of a dog for each image, `batch_size` at a time; an image that
/// cannot be read is said after the others, and fails the command.
fn predict_images(
    model: &catsdogs::model::Model,
    images: &[PathBuf],
    batch_size: usize,
) -> anyhow::Result<()> {
    let mut unread = Vec::new();
    for batch in predict_files(model, images, batch_size) {
        for (image, answer) in batch? {
            match answer {
                Ok(dog) => {
                    let class = if dog > 0.5 { "dog" } else { "cat" };
                    out!("{}: {class} (dog probability {dog:.4})", image.display());
                }
                Err(error) => unread.push(error),
            }
        }
    }
    if let Some(first) = unread.first() {
        anyhow::bail!(
            "{} of the {} images could not be predicted (the others are above), the first because {first}",
            unread.len(),
            images.len()
        );
    }
    Ok(())
}
