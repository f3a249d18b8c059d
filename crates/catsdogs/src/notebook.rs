//! What the first cell of every notebook sets up: whether this is the real run (Kaggle's data,
//! Keras's ImageNet weights) or the built-in synthetic sample, where the data, weights and
//! results live, and the parameters, which environment variables may override.
//!
//! One idea in one file (over 400 lines with its tests): a notebook's context.
//!
//! The real data is used when `data/train.zip` or its split `data/split/` is there (or under
//! `$CATSDOGS_DATA`), the real weights when `weights/vgg16_weights_tf_dim_ordering_tf_kernels*.h5`
//! (or their `.safetensors` conversions) are there (or under `$CATSDOGS_WEIGHTS`), and Keras's
//! files of the other networks (see [`Backbone::weights_file`]) for a notebook that asks for one.
//! Otherwise the notebook runs on the synthetic sample, or with random weights, and its banner
//! says so and what to fetch. `CATSDOGS_MODE=sample` forces the sample and random weights (the
//! tests use it).
//!
//! ```no_run
//! use catsdogs::notebook::Notebook;
//! let nb = Notebook::start("02-feature-extraction");
//! let epochs: usize = nb.param("EPOCHS", nb.real_or_sample(30, 3));
//! let split = nb.split_dir()?;
//! # Ok::<(), catsdogs::Error>(())
//! ```

mod photos;

pub use photos::{image_files, TRAINING_NOTEBOOKS};

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::applications::{Application, Backbone};
use crate::console::{human_bytes, human_gib};
use crate::data::{self, SampleOptions, SplitOptions, SplitReport};
use crate::display::{escape_html, Html};
use crate::error::{Error, Result};
use crate::features;
use crate::model::Model;

/// The Keras file of VGG16 with its ImageNet top (without the extension).
pub const TOP_WEIGHTS: &str = "vgg16_weights_tf_dim_ordering_tf_kernels";
/// The Keras file of VGG16's convolutional base alone (without the extension).
pub const NOTOP_WEIGHTS: &str = "vgg16_weights_tf_dim_ordering_tf_kernels_notop";

/// The synthetic sample's split: train, validation, test images (both classes together).
const SAMPLE_SPLIT: (usize, usize, usize) = (400, 100, 100);

/// One notebook's run: its name, the mode, and where things are.
#[derive(Debug, Clone)]
pub struct Notebook {
    name: String,
    root: PathBuf,
    data: Data,
    weights: Option<PathBuf>,
    /// Where the runs go instead of their usual folder (`$CATSDOGS_RUNS`).
    runs: Option<PathBuf>,
}

/// Where the images come from.
#[derive(Debug, Clone)]
enum Data {
    /// Kaggle's data, in this folder.
    Kaggle(PathBuf),
    /// The synthetic sample, made under `runs/synthetic/`: the harder setting, whose classes
    /// overlap, so that the confusion matrix and the most wrong images show something.
    Sample(PathBuf),
}

impl Notebook {
    /// Finds the data and weights for notebook `name` and returns the
    /// notebook's context; show [`Notebook::banner`] next. Results go to `runs/<name>/`, or
    /// under `$CATSDOGS_RUNS` (see [`Notebook::runs_dir`]).
    pub fn start(name: &str) -> Notebook {
        let root = repository_root();
        Notebook {
            runs: env_path("CATSDOGS_RUNS"),
            ..Notebook::locate(
                name,
                &root,
                env_path("CATSDOGS_DATA").unwrap_or_else(|| root.join("data")),
                env_path("CATSDOGS_WEIGHTS").unwrap_or_else(|| root.join("weights")),
                std::env::var("CATSDOGS_MODE").is_ok_and(|m| m == "sample"),
            )
        }
    }

    fn locate(
        name: &str,
        root: &Path,
        data_dir: PathBuf,
        weights_dir: PathBuf,
        forced_sample: bool,
    ) -> Notebook {
        let has_kaggle = data_dir.join("train.zip").is_file() || data_dir.join("split").is_dir();
        let data = if has_kaggle && !forced_sample {
            Data::Kaggle(data_dir)
        } else {
            Data::Sample(root.join("runs").join("synthetic"))
        };
        let weights = (!forced_sample).then_some(weights_dir);
        Notebook {
            name: name.to_string(),
            root: root.to_path_buf(),
            data,
            weights,
            runs: None,
        }
    }

    /// True when the images are Kaggle's.
    pub fn is_real(&self) -> bool {
        matches!(self.data, Data::Kaggle(_))
    }

    /// `real` on Kaggle's data, `sample` on the synthetic sample: for parameters such as the
    /// number of epochs, which the sample needs fewer of.
    pub fn real_or_sample<T>(&self, real: T, sample: T) -> T {
        if self.is_real() {
            real
        } else {
            sample
        }
    }

    /// The parameter `name`: the environment variable `CATSDOGS_<NAME>` when it is set (and
    /// parses), else `default`. A variable that does not parse is reported and ignored.
    pub fn param<T: FromStr + Display>(&self, name: &str, default: T) -> T {
        let var = format!("CATSDOGS_{name}");
        parameter(name, &var, std::env::var(&var).ok(), default)
    }

    /// Kaggle's `train.zip` (which the data notebook splits), or, in sample mode, the synthetic
    /// sample's zip, made here on first use.
    pub fn train_zip(&self) -> Result<PathBuf> {
        match &self.data {
            Data::Kaggle(dir) => {
                let zip = dir.join("train.zip");
                if zip.is_file() {
                    Ok(zip)
                } else {
                    Err(missing(
                        &zip,
                        "run environment/fetch-data, or copy Kaggle's train.zip there",
                    ))
                }
            }
            Data::Sample(dir) => {
                let zip = dir.join("train.zip");
                if !zip.is_file() {
                    let options = SampleOptions {
                        hard: true,
                        ..SampleOptions::default()
                    };
                    data::sample(&zip, &options)?;
                }
                Ok(zip)
            }
        }
    }

    /// The split the tutorial makes: 16,000 / 4,500 / 4,500 images from Kaggle's data, or
    /// 400 / 100 / 100 from the synthetic sample.
    pub fn split_options(&self) -> SplitOptions {
        match self.data {
            Data::Kaggle(_) => SplitOptions::default(),
            Data::Sample(_) => {
                let (train, validation, test) = SAMPLE_SPLIT;
                SplitOptions::sizes(train, validation, test)
            }
        }
    }

    /// Makes the split from [`Notebook::train_zip`] into [`Notebook::split_path`] (a no-op when
    /// it is already there) and returns what it holds.
    pub fn make_split(&self) -> Result<SplitReport> {
        let zip = self.train_zip()?;
        data::split(&zip, &self.split_path(), &self.split_options())
    }

    /// Where the split lives: `data/split/`, or `runs/synthetic/split/` in sample mode.
    pub fn split_path(&self) -> PathBuf {
        match &self.data {
            Data::Kaggle(dir) | Data::Sample(dir) => dir.join("split"),
        }
    }

    /// The folder with `train/`, `validation/` and `test/`. In sample mode it is made here on
    /// first use; with Kaggle's data, `00-prepare-data` makes it.
    pub fn split_dir(&self) -> Result<PathBuf> {
        let dir = self.split_path();
        match self.data {
            Data::Kaggle(_) if !dir.join("train").is_dir() => Err(missing(
                &dir,
                "run notebooks/00-prepare-data.ipynb first to make the split",
            )),
            Data::Kaggle(_) => Ok(dir),
            Data::Sample(_) => {
                self.make_split()?;
                Ok(dir)
            }
        }
    }

    /// The Keras VGG16 weight file (with the ImageNet top when `include_top`), preferring its
    /// safetensors conversion; `None` means random weights (the banner said so).
    pub fn weights(&self, include_top: bool) -> Option<PathBuf> {
        self.weights_of(Backbone::Vgg16, include_top)
    }

    /// [`Notebook::weights`] of another network: Keras's file for `backbone`.
    pub fn weights_of(&self, backbone: Backbone, include_top: bool) -> Option<PathBuf> {
        let dir = self.weights.as_ref()?;
        let stem = backbone.weights_file(include_top);
        ["safetensors", "h5"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.{ext}")))
            .find(|p| p.is_file())
    }

    /// The first image of `class` (e.g. `"dogs"`) in the split's `folder` (e.g. `"train"`), in
    /// Keras's file order: a picture to peek at.
    pub fn first_image(&self, folder: &str, class: &str) -> Result<PathBuf> {
        let dir = self.split_dir()?.join(folder);
        let prefix = format!("{class}/");
        data::list_images(&dir)?
            .filenames
            .into_iter()
            .find(|name| name.starts_with(&prefix))
            .map(|name| dir.join(name))
            .ok_or_else(|| missing(&dir.join(class), "no image of this class; check the split"))
    }

    /// Keras's `VGG16(weights='imagenet', include_top=...)`: VGG16 on [`crate::device()`] with the
    /// ImageNet weights of [`Notebook::weights`], or with random weights (and a note saying so)
    /// when the files are missing.
    pub fn vgg16(&self, include_top: bool) -> Result<Model> {
        self.network(Backbone::Vgg16.application(include_top))
    }

    /// The tutorial's conv base of another network: `backbone` without its top, with the
    /// pooling the tutorial's head suits ([`Backbone::tutorial_pooling`]), on
    /// [`crate::device()`], with the ImageNet weights of [`Notebook::weights_of`], or random
    /// weights (and a note saying so) when the file is missing. For VGG16 it is the same base as
    /// [`Notebook::vgg16`]`(false)`.
    pub fn conv_base(&self, backbone: Backbone) -> Result<Model> {
        self.network(
            backbone
                .application(false)
                .pooling(backbone.tutorial_pooling()),
        )
    }

    /// The network `application` describes, with the ImageNet weights of
    /// [`Notebook::weights_of`], or random ones (said; drawn from seed 0) when the file is
    /// missing.
    fn network(&self, application: Application) -> Result<Model> {
        let backbone = application.backbone;
        match self.weights_of(backbone, application.include_top) {
            Some(path) => application.load(path, crate::device()),
            None => {
                crate::say!(
                    "{} has RANDOM weights: no ImageNet weight file in weights/ \
                     (environment/fetch-weights {backbone})",
                    backbone.title()
                );
                // Seeded, so that every kernel draws the same weights and finds the features
                // that the one before cached on disk.
                tch::manual_seed(0);
                application.build(crate::device())
            }
        }
    }

    /// Where this notebook writes its results: `runs/<name>/`, or `runs/synthetic/<name>/` in
    /// sample mode, so that the two never resume each other's checkpoints.
    pub fn run_dir(&self) -> PathBuf {
        self.runs_dir().join(&self.name)
    }

    /// The folder of every notebook's run folder: `runs/` with Kaggle's data, the sample's
    /// own folder without it. Notebook 05 compares the runs in it. Headless runs
    /// (`environment/run_notebooks.py`) set `$CATSDOGS_RUNS` to a folder of their own, so that
    /// they never write where an interactive notebook carries on from: the runs then go there
    /// (the sample's to its `synthetic/`).
    pub fn runs_dir(&self) -> PathBuf {
        match (&self.runs, &self.data) {
            (Some(runs), Data::Kaggle(_)) => runs.clone(),
            (Some(runs), Data::Sample(_)) => runs.join("synthetic"),
            (None, Data::Kaggle(_)) => self.root.join("runs"),
            (None, Data::Sample(dir)) => dir.clone(),
        }
    }

    /// What this run uses and what is missing for the real one, as HTML with a plain-text
    /// equivalent; the first cell shows it. When the kernel's first cell had to compile the crate
    /// (the launcher `environment/catsdogs-kernel` says so in `CATSDOGS_KERNEL_BUILD`), it says
    /// that too.
    pub fn banner(&self) -> Html {
        let (html, text) = self.data_banner();
        let line = self.feature_cache_line();
        let html = format!("{html}<p>{}</p>", escape_html(&line));
        let text = format!("{text}\n{line}");
        with_kernel_note(html, text, std::env::var("CATSDOGS_KERNEL_BUILD").ok())
    }

    /// The split's cache folder, where the features of its images are kept on disk.
    pub fn feature_cache_dir(&self) -> PathBuf {
        features::cache_folder(&data::default_cache_dir(&self.split_path().join("train")))
    }

    /// The banner's line on the features kept on disk: how much, where, and the budget.
    fn feature_cache_line(&self) -> String {
        let dir = self.feature_cache_dir();
        let files = features::files_of_cache_folder(&dir);
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        format!(
            "Features on disk: {} in {} file{} in {} (at most {}, the ones used longest ago \
             removed first; `catsdogs cache list` shows them, `catsdogs cache remove` frees them).",
            human_bytes(bytes),
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            dir.display(),
            human_gib(features::DEFAULT_DISK_BUDGET)
        )
    }

    /// The banner's HTML and text about the data, weights and device.
    fn data_banner(&self) -> (String, String) {
        let mut missing = Vec::new();
        if !self.is_real() {
            missing.push("Kaggle's dogs-vs-cats train.zip in data/ (environment/fetch-data)");
        }
        if self.weights(true).is_none() || self.weights(false).is_none() {
            missing.push("Keras's VGG16 weight files in weights/ (environment/fetch-weights)");
        }
        let device = format!(
            "{}; auto precision: {}",
            crate::device::describe(),
            crate::precision::describe_auto(crate::device())
        );
        if missing.is_empty() {
            let text = format!("{}: Kaggle's data, ImageNet weights, {device}", self.name);
            return (format!("<p>{}</p>", escape_html(&text)), text);
        }
        let what = if self.is_real() {
            "Kaggle's data"
        } else {
            "the SYNTHETIC sample"
        };
        let weights = if self.weights(false).is_some() {
            "ImageNet weights"
        } else {
            "RANDOM weights"
        };
        let headline = format!(
            "{}: running on {what} with {weights} ({device}): the numbers below say nothing about the tutorial.",
            self.name
        );
        let text = format!(
            "*** {headline}\n*** For the real run, fetch: {}.",
            missing.join("; ")
        );
        let html = format!(
            "<div style=\"background:#fff3cd;border:2px solid #d39e00;padding:8px;font-weight:bold\">\
             {}<br>For the real run, fetch: {}.</div>",
            escape_html(&headline),
            escape_html(&missing.join("; "))
        );
        (html, text)
    }
}

/// The banner, with the launcher's note about what the kernel's first cell compiled, if any.
fn with_kernel_note(html: String, text: String, note: Option<String>) -> Html {
    match note.filter(|note| !note.is_empty()) {
        Some(note) => {
            let line = format!("This kernel: {note}.");
            Html::new(
                format!("{html}<p>{}</p>", escape_html(&line)),
                format!("{text}\n{line}"),
            )
        }
        None => Html::new(html, text),
    }
}

fn missing(path: &Path, what_to_do: &str) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        why: format!("not found; {what_to_do}"),
    }
}

/// The parameter `name` from the text of its variable `var`, if set and parsing; else `default`,
/// and which it is, said.
fn parameter<T: FromStr + Display>(name: &str, var: &str, text: Option<String>, default: T) -> T {
    let Some(text) = text else {
        return default;
    };
    match text.parse() {
        Ok(value) => {
            crate::say!("{name} = {value} (from {var})");
            value
        }
        Err(_) => {
            crate::say!("{var}={text} is not a valid {name}; using {default}");
            default
        }
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The repository's root: `$CATSDOGS_ROOT`, else the nearest folder above the working directory
/// that holds `crates/catsdogs` (a notebook runs in `notebooks/`), else the working directory.
fn repository_root() -> PathBuf {
    if let Some(root) = env_path("CATSDOGS_ROOT") {
        return root;
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| {
            dir.join("crates")
                .join("catsdogs")
                .join("Cargo.toml")
                .is_file()
        })
        .map_or(cwd.clone(), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    fn locate(root: &Path, forced_sample: bool) -> Notebook {
        Notebook::locate(
            "02-x",
            root,
            root.join("data"),
            root.join("weights"),
            forced_sample,
        )
    }

    #[test]
    fn without_data_or_weights_it_runs_on_the_sample_and_says_so() {
        let root = tempfile::tempdir().unwrap();
        let nb = locate(root.path(), false);
        assert!(!nb.is_real());
        assert_eq!(nb.real_or_sample(30, 3), 3);
        assert_eq!(nb.split_path(), root.path().join("runs/synthetic/split"));
        assert_eq!(nb.run_dir(), root.path().join("runs/synthetic/02-x"));
        let headless = Notebook {
            runs: Some(root.path().join("runs/headless")),
            ..nb.clone()
        };
        assert_eq!(
            headless.run_dir(),
            root.path().join("runs/headless/synthetic/02-x")
        );
        assert_eq!(headless.split_path(), nb.split_path());
        assert_eq!(nb.weights(false), None);
        let options = nb.split_options();
        assert_eq!(
            (options.train, options.validation, options.test),
            (400, 100, 100)
        );
        let banner = nb.banner().to_string();
        assert!(
            banner.contains("the SYNTHETIC sample with RANDOM weights"),
            "{banner}"
        );
        assert!(banner.contains("environment/fetch-data"), "{banner}");
        assert!(banner.contains("environment/fetch-weights"), "{banner}");
        // Where the features go, how much is there, and the budget.
        let caches = root.path().join("runs/synthetic/split/.catsdogs-cache");
        assert_eq!(nb.feature_cache_dir(), caches);
        let line = format!(
            "Features on disk: 0 B in 0 files in {} (at most 16 GiB",
            caches.display()
        );
        assert!(banner.contains(&line), "{banner}");
    }

    #[test]
    fn kaggle_data_and_keras_weights_make_the_real_run() {
        let root = tempfile::tempdir().unwrap();
        touch(&root.path().join("data/train.zip"));
        touch(&root.path().join(format!("weights/{NOTOP_WEIGHTS}.h5")));
        touch(&root.path().join(format!("weights/{TOP_WEIGHTS}.h5")));
        touch(
            &root
                .path()
                .join(format!("weights/{TOP_WEIGHTS}.safetensors")),
        );
        let nb = locate(root.path(), false);
        assert!(nb.is_real());
        assert_eq!(nb.real_or_sample(30, 3), 30);
        assert_eq!(nb.train_zip().unwrap(), root.path().join("data/train.zip"));
        assert_eq!(nb.split_options().train, 16_000);
        assert_eq!(nb.run_dir(), root.path().join("runs/02-x"));
        let headless = Notebook {
            runs: Some(root.path().join("elsewhere")),
            ..nb.clone()
        };
        assert_eq!(headless.run_dir(), root.path().join("elsewhere/02-x"));
        assert_eq!(
            nb.weights(false),
            Some(root.path().join(format!("weights/{NOTOP_WEIGHTS}.h5")))
        );
        assert_eq!(
            nb.weights(true),
            Some(
                root.path()
                    .join(format!("weights/{TOP_WEIGHTS}.safetensors"))
            ),
            "the safetensors conversion is preferred"
        );
        assert!(!nb.banner().to_string().contains("SYNTHETIC"));
        let err = nb.split_dir().unwrap_err().to_string();
        assert!(err.contains("00-prepare-data"), "{err}");
    }

    #[test]
    fn the_banner_says_what_the_kernel_compiled() {
        let note = "slot-1 has no ready build, so the first cell compiles the crate";
        let banner = with_kernel_note(
            "<p>00: sample</p>".into(),
            "00: sample".into(),
            Some(note.into()),
        );
        assert_eq!(
            banner.to_string(),
            format!("00: sample\nThis kernel: {note}.")
        );
        let plain = with_kernel_note("<p>00: sample</p>".into(), "00: sample".into(), None);
        assert_eq!(plain.to_string(), "00: sample");
    }

    #[test]
    fn sample_mode_can_be_forced_over_real_data() {
        let root = tempfile::tempdir().unwrap();
        touch(&root.path().join("data/train.zip"));
        touch(&root.path().join(format!("weights/{NOTOP_WEIGHTS}.h5")));
        let nb = locate(root.path(), true);
        assert!(!nb.is_real());
        assert_eq!(nb.weights(false), None);
    }

    #[test]
    fn parameters_come_from_their_variable_when_it_parses() {
        let var = "CATSDOGS_X";
        assert_eq!(parameter("X", var, Some("7".into()), 30usize), 7);
        assert_eq!(parameter("X", var, Some("fast".into()), 2e-5), 2e-5);
        assert!(parameter("X", var, None, true));
        let nb = locate(Path::new("/nonexistent"), true);
        assert!(nb.param("NOTEBOOK_TEST_UNSET", true));
    }
}
