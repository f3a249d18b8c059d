//! The tutorial's two experiments end to end, as `catsdogs train` runs them (and as a notebook
//! may), on top of every other layer (data, network and weights, training, figures): build the
//! model, fit it with a checkpoint per epoch, evaluate it on the test set, and
//! leave everything in one run folder:
//!
//! ```text
//! runs/NAME/run.json            what was run (experiment, data, weights, settings, preprocessing)
//! runs/NAME/checkpoints/        the latest epoch's checkpoint (see Checkpoint)
//! runs/NAME/history.json        the History
//! runs/NAME/curves.png          accuracy and loss curves
//! runs/NAME/model.safetensors   the trained model
//! runs/NAME/test_metrics.json   {"test_loss": ..., "test_acc": ...}
//! ```
//!
//! A run may be given Keras's callbacks ([`run_with`]; `catsdogs train --early-stopping ...`):
//! `run.json` lists them, and says after training the best epoch (of the highest `val_acc`)
//! and why training stopped early, if it did. Its training images may be augmented as Keras's
//! `ImageDataGenerator` does it ([`RunOptions::augment`]; `catsdogs train --augment classic`). [`runs`] reads run folders back, for
//! `catsdogs runs` and notebook 05's table of runs side by side.
//!
//! One idea in one file (over 400 lines): a run of the tutorial, its folder and its reading.
//!
//! - `frozen`: the ImageNet conv base frozen under a new head, Flatten, Dropout(0.5),
//!   Dense(256, relu), Dense(1, sigmoid), RMSprop(lr=2e-5).
//! - `finetune`: as the tutorial, a fresh base with block5 (from block5_conv1 on) trainable and
//!   a new head, RMSprop(lr=1e-5); or, with `from`, the head trained by a frozen run, the
//!   common two-stage recipe.
//!
//! The base is VGG16, the tutorial's, unless another [`Backbone`] is asked for: then its own
//! preprocessing, its pooling for the tutorial ([`Backbone::tutorial_pooling`]: `avg` for
//! ResNet50 and MobileNetV2, whose tops pool too) and its last stage for the fine-tune
//! ([`Backbone::finetune_from`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::applications::Backbone;
use crate::data::{FlowOptions, ImageDataGenerator, Preprocess};
use crate::error::{Error, Result};
use crate::features::CacheOptions;
use crate::fsutil::FolderLock;
use crate::history::History;
use crate::losses::Loss;
use crate::model::{Activation, Dense, LayerKind, Model, Sequential};
use crate::optimizers::RMSprop;
use crate::precision::{Compute, Precision};
use crate::train::callbacks::{Callback, Fit};
use crate::train::{input_size, FitOptions};
use crate::weights::{load_model, Weights};

mod runs;

pub use runs::{runs, runs_table, RunSummary};

/// The first layer that the tutorial's fine-tune trains (VGG16's; see
/// [`Backbone::finetune_from`] for the others).
pub const FINETUNE_FROM: &str = "block5_conv1";
/// The file a run's configuration is written to.
pub const RUN_FILE: &str = "run.json";
/// The file a run's trained model is written to.
pub const MODEL_FILE: &str = "model.safetensors";
const HISTORY_FILE: &str = "history.json";
const CURVES_FILE: &str = "curves.png";
const TEST_METRICS_FILE: &str = "test_metrics.json";
/// The files a run writes into its folder (beside its `checkpoints/`).
pub const RUN_FILES: [&str; 5] = [
    RUN_FILE,
    HISTORY_FILE,
    CURVES_FILE,
    MODEL_FILE,
    TEST_METRICS_FILE,
];

/// One of the tutorial's two experiments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    /// The conv base frozen; only the head trains.
    Frozen,
    /// block5 and the head train.
    Finetune,
}

impl FromStr for Experiment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "frozen" => Ok(Experiment::Frozen),
            "finetune" => Ok(Experiment::Finetune),
            _ => Err(Error::UnknownName {
                what: "experiment",
                given: s.to_string(),
                known: "frozen or finetune",
            }),
        }
    }
}

impl Experiment {
    /// The tutorial's learning rate: 2e-5 frozen, 1e-5 fine-tuning.
    pub fn learning_rate(self) -> f64 {
        match self {
            Experiment::Frozen => 2e-5,
            Experiment::Finetune => 1e-5,
        }
    }

    /// The tutorial's model on `conv_base` (VGG16, or another network), with this
    /// experiment's trainable layers.
    ///
    /// ```
    /// use catsdogs::applications::Backbone;
    /// use catsdogs::experiments::Experiment;
    /// let conv_base = Backbone::Vgg16.application(false).build(tch::Device::Cpu)?;
    /// let model = Experiment::Finetune.model(conv_base)?;
    /// assert_eq!(model.summary().trainable_params(), 7_079_424 + 6_423_041);
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn model(self, conv_base: Model) -> Result<Model> {
        let mut model = Sequential::new(&conv_base)
            .flatten()
            .dropout(0.5)
            .dense(256, Activation::Relu)
            .dense(1, Activation::Sigmoid);
        self.set_trainable(&mut model)?;
        Ok(model)
    }

    /// Makes this experiment's layers trainable and the others frozen: the fine-tune starts at
    /// the last stage of the base's backbone (told by its name; VGG16's block5 for a base of
    /// no known backbone).
    pub fn set_trainable(self, model: &mut Model) -> Result<()> {
        let first = match self {
            Experiment::Frozen => model.layers()[model.base_len()].name().to_string(),
            Experiment::Finetune => Backbone::of_model_name(model.base_name())
                .map_or(FINETUNE_FROM, Backbone::finetune_from)
                .to_string(),
        };
        model.trainable_from(&first)
    }
}

/// Everything `catsdogs train` takes.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Which experiment.
    pub experiment: Experiment,
    /// The split folder, holding `train/`, `validation/` and `test/`.
    pub data: PathBuf,
    /// The run folder.
    pub out: PathBuf,
    /// The conv base's network; `None` means VGG16 (the tutorial's), or with `from` that run's.
    pub backbone: Option<Backbone>,
    /// Its weights (any format `Weights::load` reads); `None` means random ones.
    pub weights: Option<PathBuf>,
    /// A run (folder or model file) whose model to start from, for the two-stage fine-tune: its
    /// base, weights and image size, so `weights` is refused with it, and `backbone` and
    /// `target_size` must agree with it.
    pub from: Option<PathBuf>,
    /// Epochs (30).
    pub epochs: usize,
    /// Images per batch (50).
    pub batch_size: usize,
    /// The learning rate; `None` means the experiment's.
    pub lr: Option<f64>,
    /// Seeds the head's initialisation, the epoch orders and the dropout masks.
    pub seed: u64,
    /// (height, width) of the images; `None` means 224x224, or with `from` that run's.
    pub target_size: Option<(u32, u32)>,
    /// The caches: on or off (off, nothing is written beside the data: images are decoded at
    /// every step), the features' memory budget, and the folder of the decoded images and the
    /// feature files (`None`: beside the data).
    pub cache: CacheOptions,
    /// Continue from the run's latest checkpoint.
    pub resume: bool,
    /// The precision of the layers (default `auto`).
    pub precision: Precision,
    /// Exactly how to compute, whatever the device (overrides `precision`; for benchmarks).
    pub compute: Option<Compute>,
    /// Keras's `ImageDataGenerator` arguments for the training images, as
    /// [`ImageDataGenerator::arguments`] reads them (`classic`, or
    /// `rotation_range=40,width_shift_range=0.2,...`); `None`: not augmented. The validation
    /// and test images never are.
    pub augment: Option<String>,
}

impl RunOptions {
    /// The tutorial's settings for `experiment` on `data`, written to `out`.
    pub fn new(experiment: Experiment, data: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        RunOptions {
            experiment,
            data: data.into(),
            out: out.into(),
            backbone: None,
            weights: None,
            from: None,
            epochs: 30,
            batch_size: 50,
            lr: None,
            seed: 0,
            target_size: None,
            cache: CacheOptions::default(),
            resume: false,
            precision: Precision::Auto,
            compute: None,
            augment: None,
        }
    }
}

/// `run.json`: what a run was made with, and how its images are preprocessed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The experiment.
    pub experiment: Experiment,
    /// The conv base's network (absent in runs made before there was a choice: VGG16).
    #[serde(default)]
    pub backbone: Option<Backbone>,
    /// The split folder.
    pub data: String,
    /// The weights file, if any.
    pub weights: Option<String>,
    /// The run it started from, if any.
    pub from: Option<String>,
    /// Epochs.
    pub epochs: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// (height, width) of the images.
    pub target_size: (u32, u32),
    /// How images are preprocessed for this model.
    pub preprocess: Preprocess,
    /// The class folders it was trained on, with their labels (absent in runs made before
    /// they were recorded).
    #[serde(default)]
    pub class_indices: Option<BTreeMap<String, u32>>,
    /// The precision asked for, and how the layers computed (e.g. `auto` and `bf16`).
    #[serde(default)]
    pub precision: Option<(Precision, String)>,
    /// The augmentation of the training images, as [`RunOptions::augment`] gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<String>,
    /// The callbacks given to `fit`, as each describes itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<String>,
    /// After training: the epoch (from 1) of the highest `val_acc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// After training: why a callback stopped it before its last epoch, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl RunConfig {
    /// The `run.json` of the run folder `dir`: `None` if there is none, an error that says so
    /// if the file is not a `run.json` that catsdogs wrote (garbage, or edited by hand).
    pub fn read(dir: &Path) -> Result<Option<RunConfig>> {
        let path = dir.join(RUN_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", &path, e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::invalid(
                &path,
                format!(
                    "is not a {RUN_FILE} that catsdogs wrote ({e}): put back the one the run wrote, or move it away (then give --preprocess, or the preprocessing, when you use the model)",
                ),
            )
        })
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunReport {
    /// The run folder.
    pub out: PathBuf,
    /// Per-epoch metrics.
    pub history: History,
    /// `(loss, acc)` on the test folder, if the split has one.
    pub test: Option<(f64, f64)>,
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The model file of a run folder, or the file itself.
///
/// ```
/// use std::path::Path;
/// let dir = tempfile::tempdir().unwrap();
/// assert_eq!(catsdogs::experiments::model_file(dir.path()), dir.path().join("model.safetensors"));
/// assert_eq!(catsdogs::experiments::model_file(Path::new("m.safetensors")), Path::new("m.safetensors"));
/// ```
pub fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MODEL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Loads a trained cat/dog model (a run folder, a model file saved by `Model::save`, or a Keras
/// `.h5`/`.keras` file) onto [`crate::device()`], with its preprocessing
/// ([`Model::preprocess`]): `preprocess` if given, else the `run.json` beside the model, else
/// the model file's, else Keras's for its base's network (with a note). A model that does not
/// end in one sigmoid unit (the probability of a dog) is refused.
pub fn load_trained(path: &Path, preprocess: Option<Preprocess>) -> Result<Model> {
    let model = load_any(path, preprocess)?;
    expect_binary(&model, path)?;
    Ok(model)
}

/// An error unless `model` (loaded from `path`) ends in one sigmoid unit, the probability of a
/// dog.
pub fn expect_binary(model: &Model, path: &Path) -> Result<()> {
    let last = model.layers().last().map(|l| l.kind().clone());
    let binary = matches!(
        last,
        Some(LayerKind::Dense(Dense {
            units: 1,
            activation: Activation::Sigmoid,
            ..
        }))
    );
    if !binary {
        return Err(Error::NotCatDog(model_file(path)));
    }
    Ok(())
}

/// Loads any model that [`load_saved`] loads, with its preprocessing chosen as
/// [`load_trained`] chooses it.
pub fn load_any(path: &Path, preprocess: Option<Preprocess>) -> Result<Model> {
    let (model, config) = load_run(path)?;
    let preprocess = chosen_preprocess(path, &model, preprocess, config.as_ref());
    Ok(model.with_preprocess(preprocess))
}

/// Loads a run folder's model, a model file saved by `Model::save` or a Keras `.h5`/`.keras`
/// file onto [`crate::device()`], with the preprocessing of the `run.json` beside it, else its
/// file's (none, for Keras's own files): what a conversion keeps.
pub fn load_saved(path: &Path) -> Result<Model> {
    let (model, config) = load_run(path)?;
    Ok(match config {
        Some(config) => model.with_preprocess(config.preprocess),
        None => model,
    })
}

/// The preprocessing of a trained model: `given`, else its run's, else its file's, else
/// Keras's for its base's network (said).
fn chosen_preprocess(
    path: &Path,
    model: &Model,
    given: Option<Preprocess>,
    config: Option<&RunConfig>,
) -> Preprocess {
    match (given, config) {
        (Some(p), _) => p,
        (None, Some(config)) => config.preprocess,
        (None, None) if model.preprocess() != Preprocess::None => model.preprocess(),
        (None, None) => {
            let backbone = Backbone::of_model_name(model.base_name()).unwrap_or(Backbone::Vgg16);
            crate::say!(
                "No {RUN_FILE} beside {}: preprocessing images as Keras's {} ({:?}); give \
                 --preprocess (the preprocess argument) if the model was trained otherwise.",
                path.display(),
                backbone.title(),
                backbone.preprocess(),
            );
            backbone.preprocess()
        }
    }
}

/// A model and the `run.json` beside it, if there is one. Refuses a folder without a model.
fn load_run(path: &Path) -> Result<(Model, Option<RunConfig>)> {
    let file = model_file(path);
    if !file.is_file() {
        return Err(Error::NoTrainedModel {
            dir: path.to_path_buf(),
            file: MODEL_FILE,
        });
    }
    let model = load_model(&file)?;
    let config = match file.parent() {
        Some(dir) => RunConfig::read(dir)?,
        None => None,
    };
    Ok((model, config))
}

/// The folder of test images in `data`: `data/test` if the split has one, else `data` itself.
pub fn test_dir(data: &Path) -> PathBuf {
    let test = data.join("test");
    if test.is_dir() {
        test
    } else {
        data.to_path_buf()
    }
}

/// The conv base of `backbone`, with the tutorial's pooling for it: the weights' if given,
/// else random (with a warning). Its preprocessing comes with it ([`Model::preprocess`]).
fn conv_base(backbone: Backbone, weights: Option<&Path>, target_size: (u32, u32)) -> Result<Model> {
    let device = crate::device();
    let (height, width) = target_size;
    let application = backbone
        .application(false)
        .input_size(i64::from(height), i64::from(width))
        .pooling(backbone.tutorial_pooling());
    match weights {
        Some(path) => {
            let weights = Weights::load(path)?;
            weights.expect_asked_with(backbone, "--backbone")?;
            application.from_weights(&weights, device)
        }
        None => {
            crate::console::warn(format_args!(
                "no --weights (RunOptions::weights) given, so the {} base is randomly \
                 initialised, not ImageNet's: accuracy will be far below the tutorial's. Give \
                 Keras's {}.h5 (see environment/fetch-weights).",
                backbone.title(),
                backbone.weights_file(false)
            ));
            application.build(device)
        }
    }
}

/// Refuses a run folder that is not ours to write into: ours is a new folder, an empty one
/// (or one that holds only the lock of a run that stopped before it started), or the folder of
/// an earlier run, marked by its `run.json`. Anything else may hold the user's files of the
/// names a run writes.
fn claim_run_folder(out: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(()); // new (or not a folder, which the lock then says)
    };
    let foreign = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .find(|name| name != ".lock");
    match (foreign, RunConfig::read(out)?) {
        (None, _) | (_, Some(_)) => Ok(()),
        (Some(name), None) => Err(Error::invalid(
            out,
            format!(
                "holds files that are not a catsdogs run (such as {}) and no {RUN_FILE}: give --out (RunOptions::out) a new or empty folder, since a run writes {} there",
                name.to_string_lossy(),
                RUN_FILES.join(", ")
            ),
        )),
    }
}

/// The model a run starts from, its preprocessing and its image size: `options.from`'s
/// trained model (refusing options that would not be used, or that disagree with it), or the
/// tutorial's model on a new conv base.
fn starting_model(options: &RunOptions) -> Result<(Model, (u32, u32))> {
    let Some(from) = &options.from else {
        let backbone = options.backbone.unwrap_or(Backbone::Vgg16);
        let target_size = options.target_size.unwrap_or((224, 224));
        let base = conv_base(backbone, options.weights.as_deref(), target_size)?;
        return Ok((options.experiment.model(base)?, target_size));
    };
    if options.weights.is_some() {
        return Err(Error::FromWithWeights(from.clone()));
    }
    let mut model = load_trained(from, None)?;
    options.experiment.set_trainable(&mut model)?;
    let size = input_size(&model)?;
    let base = Backbone::of_model_name(model.base_name());
    if let Some(asked) = options.backbone.filter(|&b| Some(b) != base) {
        return Err(Error::FromDiffers {
            from: from.clone(),
            has: format!("a {} base", base.map_or(model.base_name(), |b| b.title())),
            asked: format!("{} base", asked.title()),
            flag: "--backbone (RunOptions::backbone)",
        });
    }
    if let Some((height, width)) = options.target_size.filter(|&t| t != size) {
        return Err(Error::FromDiffers {
            from: from.clone(),
            has: format!("{}x{} images", size.0, size.1),
            asked: format!("{height}x{width} images"),
            flag: "--target-size (RunOptions::target_size)",
        });
    }
    Ok((model, size))
}

/// The options of the flows of a run or an evaluation: the decoded images cached as `cache`
/// says (in its folder, or beside the data; not at all when it is off).
fn flow_options(target_size: (u32, u32), batch_size: usize, cache: &CacheOptions) -> FlowOptions {
    let options = FlowOptions::default()
        .target_size(target_size.0, target_size.1)
        .batch_size(batch_size)
        .cache(cache.enabled);
    match &cache.dir {
        Some(dir) => options.cache_dir(dir),
        None => options,
    }
}

/// Runs an experiment as `catsdogs train` does; see the module's notes for what it writes.
/// The run folder is locked while the run works in it; everything is checked before anything
/// is written there, so a refused run leaves an earlier run's files as they were. A folder
/// that holds anything but a run is refused, and so is one inside a split's folders.
pub fn run(options: &RunOptions) -> Result<RunReport> {
    run_with(options, Vec::new())
}

/// [`run`] with Keras's `callbacks` given to `fit` (after its own), as `catsdogs train
/// --early-stopping val_loss --patience 3 ...` gives them. Their arguments are checked before
/// the first epoch, so a refused one leaves the run folder as it was.
///
/// ```no_run
/// use catsdogs::experiments::{run_with, Experiment, RunOptions};
/// use catsdogs::train::callbacks::{Callback, EarlyStopping};
/// let options = RunOptions::new(Experiment::Frozen, "data/split", "runs/frozen");
/// let early: Box<dyn Callback> = Box::new(EarlyStopping::new("val_loss").patience(3));
/// let report = run_with(&options, vec![early])?;
/// println!("{:?}", report.history.stopped);
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn run_with(options: &RunOptions, callbacks: Vec<Box<dyn Callback>>) -> Result<RunReport> {
    let augmentation = match &options.augment {
        Some(arguments) => ImageDataGenerator::new(Preprocess::None).arguments(arguments)?,
        None => ImageDataGenerator::new(Preprocess::None),
    };
    crate::data::refuse_output_inside_split(&options.out)?;
    claim_run_folder(&options.out)?;
    let _lock = FolderLock::acquire(&options.out)?;
    tch::manual_seed(options.seed as i64);
    let (mut model, target_size) = starting_model(options)?;
    model.set_precision(options.precision);
    if let Some(compute) = options.compute {
        model = model.with_compute(compute);
    }
    let preprocess = model.preprocess();
    let datagen = ImageDataGenerator::new(preprocess);
    let flow_options =
        flow_options(target_size, options.batch_size, &options.cache).seed(options.seed);
    let train = ImageDataGenerator {
        preprocessing: preprocess,
        ..augmentation
    }
    .flow_from_directory(options.data.join("train"), flow_options.clone())?;
    let validation = datagen.flow_from_directory(
        options.data.join("validation"),
        flow_options.clone().shuffle(false),
    )?;
    let test = match options.data.join("test") {
        dir if dir.is_dir() => Some(datagen.flow_from_directory(dir, flow_options.shuffle(false))?),
        _ => None,
    };
    let lr = options.lr.unwrap_or(options.experiment.learning_rate());
    model.compile(RMSprop::new(lr), Loss::BinaryCrossentropy);
    if let Some(test) = &test {
        model.check_evaluation(test)?;
    }

    let backbone = Backbone::of_model_name(model.base_name());
    let config = RunConfig {
        experiment: options.experiment,
        backbone,
        data: display(&options.data),
        weights: options.weights.as_deref().map(display),
        from: options.from.as_deref().map(display),
        epochs: options.epochs,
        batch_size: options.batch_size,
        lr,
        seed: options.seed,
        target_size,
        preprocess,
        class_indices: Some(train.class_indices.clone()),
        precision: Some((options.precision, model.compute()?.to_string())),
        augment: options.augment.clone(),
        callbacks: callbacks.iter().map(|c| c.config()).collect(),
        best_epoch: None,
        stopped: None,
    };
    let mut fit_options = FitOptions {
        seed: options.seed,
        cache: options.cache.clone(),
        checkpoint_dir: Some(options.out.join("checkpoints")),
        resume: options.resume,
        fresh: false,
        callbacks,
    };
    fit_options.callbacks.insert(
        0,
        Box::new(RunStarted {
            out: options.out.clone(),
            config: Some(config.clone()),
        }),
    );
    let history = model.fit_with(&train, options.epochs, &validation, fit_options)?;
    history.save(options.out.join(HISTORY_FILE))?;
    let config = RunConfig {
        best_epoch: history.best("val_acc").map(|(epoch, _)| epoch + 1),
        stopped: history.stopped.clone(),
        ..config
    };
    write_run_config(&options.out, &config)?;
    crate::say!("{}", outcome(&history));
    let title = format!(
        "{:?} {} conv base, {}",
        options.experiment,
        backbone.map_or(model.base_name(), |b| b.title()),
        display(&options.data)
    );
    crate::plot::history_curves(&history, &title).save(options.out.join(CURVES_FILE))?;
    model.save(options.out.join(MODEL_FILE))?;

    let test = match &test {
        Some(test) => {
            let (test_loss, test_acc) = model.evaluate(test)?;
            save_test_metrics(&options.out, test_loss, test_acc)?;
            crate::say!("test_loss: {test_loss:.4} - test_acc: {test_acc:.4}");
            Some((test_loss, test_acc))
        }
        None => {
            crate::say!(
                "{} has no test folder (a split with --all): no test_metrics.json.",
                options.data.display()
            );
            None
        }
    };
    Ok(RunReport {
        out: options.out.clone(),
        history,
        test,
    })
}

/// Writes `run.json` and prints the model's summary when the first epoch begins: after every
/// check (a checkpoint folder of another run is refused before), so a refused run leaves an
/// earlier run's files as they were, and only a run that trains records itself.
struct RunStarted {
    out: PathBuf,
    config: Option<RunConfig>,
}

impl Callback for RunStarted {
    fn on_epoch_begin(&mut self, _: usize, fit: &mut Fit) -> Result<()> {
        if let Some(config) = self.config.take() {
            write_run_config(&self.out, &config)?;
            crate::say!("{}", fit.model.summary());
        }
        Ok(())
    }
}

/// Writes `run.json` into the run folder `out`.
fn write_run_config(out: &Path, config: &RunConfig) -> Result<()> {
    let json = serde_json::to_string_pretty(config).expect("run configs serialise");
    crate::fsutil::write_atomic(&out.join(RUN_FILE), json.as_bytes())
}

/// What the run's summary says after training: `Best epoch: 5/8 (val_acc 0.9850); stopped
/// early: EarlyStopping: ...`.
fn outcome(history: &History) -> String {
    let best = match history.best("val_acc") {
        Some((epoch, acc)) => format!(
            "Best epoch: {}/{} (val_acc {acc:.4})",
            epoch + 1,
            history.len()
        ),
        None => "No epoch was validated".to_string(),
    };
    match &history.stopped {
        Some(reason) => format!("{best}; stopped early: {reason}."),
        None => format!("{best}."),
    }
}

/// Writes `test_metrics.json` (`{"test_loss": ..., "test_acc": ...}`) into the run folder `dir`,
/// atomically.
pub fn save_test_metrics(dir: impl AsRef<Path>, test_loss: f64, test_acc: f64) -> Result<()> {
    let metrics = serde_json::json!({ "test_loss": test_loss, "test_acc": test_acc });
    let text = serde_json::to_string_pretty(&metrics).expect("metrics serialise");
    crate::fsutil::write_atomic(&dir.as_ref().join(TEST_METRICS_FILE), text.as_bytes())
}

/// Evaluates a trained model (run folder or model file) on `data`'s test folder (or `data`
/// itself if it has none), as `catsdogs evaluate` does: `(loss, acc)`. The decoded images and
/// features are cached as `cache` says (nothing is written with it off).
pub fn evaluate(
    path: &Path,
    data: &Path,
    batch_size: usize,
    preprocess: Option<Preprocess>,
    precision: Precision,
    cache: &CacheOptions,
) -> Result<(f64, f64)> {
    let (mut model, config) = load_run(path)?;
    let preprocess = chosen_preprocess(path, &model, preprocess, config.as_ref());
    let size = input_size(&model)?;
    let flow = ImageDataGenerator::new(preprocess).flow_from_directory(
        test_dir(data),
        flow_options(size, batch_size, cache).shuffle(false),
    )?;
    model.compile(RMSprop::new(0.0), Loss::BinaryCrossentropy);
    model.set_precision(precision);
    if let Some(classes) = config.and_then(|c| c.class_indices) {
        model.set_class_indices(classes);
    }
    model.evaluate_with(&flow, cache)
}
