//! `catsdogs bench`: one measurement per call, printed as one JSON line on stdout, for
//! `environment/bench` to put beside the Python peers' numbers. Each call runs in its own
//! process, so that the caller can read that process's peak memory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use catsdogs::applications::Backbone;
use catsdogs::bench::{self, Timing};
use catsdogs::data::{self, FlowOptions, ImageDataGenerator, Preprocess};
use catsdogs::experiments::{self, Experiment, RunOptions};
use catsdogs::gradcam::{GradCam, DEFAULT_LAYER};
use catsdogs::history::Logs;
use catsdogs::precision::{Compute, Precision};
use catsdogs::train::callbacks::{Callback, Fit};
use tch::Device;

/// The measurements.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time load_img (decode + Pillow NEAREST resize) over a list of image files, and the
    /// image cache's content hash of the same files (read + XXH3-128) as `hash_seconds`.
    Decode {
        /// A text file with one image path per line.
        #[arg(long)]
        files: PathBuf,
        /// Decoding threads.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        threads: u16,
        /// HEIGHTxWIDTH to resize to.
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
    },
    /// Time augmented epochs of a folder's flow (Keras's classic setting unless --augment says
    /// otherwise), transformed from the decoded-image cache and preprocessed for VGG16 on the
    /// CPU: one untimed epoch, then the timed ones.
    Augment {
        /// A folder of class folders, e.g. data/train.
        #[arg(long)]
        data: PathBuf,
        /// The augmentation arguments, with Keras's names (see `catsdogs augment --help`).
        #[arg(long, default_value = "classic")]
        augment: String,
        /// Images per batch.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// HEIGHTxWIDTH of the images.
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
        /// Timed epochs (after one untimed).
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Cut each epoch short after the batch that reaches this many images.
        #[arg(long)]
        images: Option<usize>,
        /// Threads of the rayon pool that transforms the images, and libtorch's.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        threads: u16,
    },
    /// Time a network's convolutional base (include_top=False; VGG16 unless --model says) on
    /// random batches.
    Forward {
        /// The network: vgg16, vgg19, resnet50 or mobilenet_v2.
        #[arg(long, default_value = "vgg16", value_parser = str::parse::<Backbone>)]
        model: Backbone,
        /// Images per batch.
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// HEIGHTxWIDTH of the images.
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
        /// Timed batches (after one untimed).
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        #[command(flatten)]
        machine: Machine,
        #[command(flatten)]
        numbers: Numbers,
    },
    /// Time Grad-CAM (a forward pass, and a backward pass down to the layer) on the tutorial's
    /// cat/dog model, beside the same model's forward pass alone, on random images (random
    /// weights: the speed is the same), in float32.
    Gradcam {
        /// Images per batch.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// HEIGHTxWIDTH of the images.
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
        /// The convolutional layer explained.
        #[arg(long, default_value = DEFAULT_LAYER)]
        layer: String,
        /// Timed batches (after one untimed), for each of the two.
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        #[command(flatten)]
        machine: Machine,
    },
    /// Run VGG16's conv base on the same random images on the CPU and on the GPU, and print
    /// how far apart the outputs are.
    Agree {
        /// Images.
        #[arg(long, default_value_t = 4)]
        batch: usize,
    },
    /// Time epochs of one of the tutorial's experiments, end to end, as `catsdogs train` runs
    /// them (random VGG16 weights: the speed is the same).
    Epoch {
        /// The split folder, holding train/ and validation/.
        #[arg(long)]
        data: PathBuf,
        /// frozen or finetune.
        #[arg(long, value_parser = str::parse::<Experiment>)]
        experiment: Experiment,
        /// Epochs.
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Images per batch.
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// HEIGHTxWIDTH of the images.
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
        /// The feature cache: on (the fast path) or off (every step runs the whole network).
        #[arg(long, value_enum, default_value_t = Switch::On)]
        cache: Switch,
        #[command(flatten)]
        numbers: Numbers,
        #[command(flatten)]
        machine: Machine,
        /// The run folder (checkpoints, history, model); it must not hold a run already.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Where a measurement runs: libtorch's CPU threads and the device.
#[derive(clap::Args)]
pub struct Machine {
    /// libtorch's CPU threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Where::Auto)]
    device: Where,
}

impl Machine {
    /// Gives libtorch its threads and returns the device to run on.
    fn start(&self) -> anyhow::Result<Device> {
        tch::set_num_threads(i32::from(self.threads));
        self.device.device()
    }
}

/// How the layers compute: a precision and, optionally, a memory layout.
#[derive(clap::Args)]
pub struct Numbers {
    /// fp32, bf16, fp16 (CUDA) or auto.
    #[arg(long, default_value = "auto", value_parser = str::parse::<Precision>)]
    precision: Precision,
    /// nchw or nhwc (channels-last); default: the precision's own.
    #[arg(long, value_enum)]
    layout: Option<Layout>,
}

/// A memory layout of images and kernels.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    /// Channels first, libtorch's default.
    Nchw,
    /// Channels last.
    Nhwc,
}

impl Numbers {
    /// The computation on `device`: the precision there, in the layout asked for.
    fn compute(&self, device: Device) -> anyhow::Result<Compute> {
        let compute = self.precision.resolve(device)?;
        Ok(match self.layout {
            Some(layout) => compute.with_channels_last(layout == Layout::Nhwc),
            None => compute,
        })
    }
}

/// On or off.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Switched on.
    On,
    /// Switched off.
    Off,
}

/// Where a measurement runs.
#[derive(Clone, Copy, ValueEnum)]
pub enum Where {
    /// CUDA when libtorch sees a GPU, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The first GPU; an error when there is none.
    Cuda,
}

impl Where {
    fn device(self) -> anyhow::Result<Device> {
        if let Where::Cpu = self {
            // Before anything asks for the device: the training code uses catsdogs::device().
            std::env::set_var("CATSDOGS_DEVICE", "cpu");
        }
        match (self, catsdogs::device()) {
            (Where::Cpu, _) => Ok(Device::Cpu),
            (Where::Cuda, Device::Cpu) => anyhow::bail!(
                "libtorch sees no CUDA GPU ({}): run with --device cpu",
                catsdogs::device::describe()
            ),
            (_, device) => Ok(device),
        }
    }
}

/// Runs one measurement and prints it as a JSON line.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let (timing, details) = match command {
        BenchCommand::Agree { batch } => {
            let device = catsdogs::device();
            if device == Device::Cpu {
                anyhow::bail!(
                    "libtorch sees no CUDA GPU ({}): this check compares the CPU with a GPU, so \
                     run it on a GPU machine",
                    catsdogs::device::describe()
                );
            }
            tch::manual_seed(0);
            let mut model = Backbone::Vgg16.application(false).build(Device::Cpu)?;
            let agreement = bench::agreement(&mut model, batch, device)?;
            let mut line = serde_json::to_value(agreement)?;
            line["relative"] = json!(agreement.relative());
            out!("{line}");
            return Ok(());
        }
        BenchCommand::Decode {
            files,
            threads,
            target_size,
        } => {
            let list = std::fs::read_to_string(&files)
                .with_context(|| format!("cannot read the file list {}", files.display()))?;
            let paths: Vec<PathBuf> = list
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(PathBuf::from)
                .collect();
            let timing = bench::decode(&paths, target_size, usize::from(threads))?;
            let hashed = bench::content_hash(&paths, usize::from(threads))?;
            let details = json!({
                "threads": threads,
                "device": "cpu",
                "hash_seconds": hashed.seconds,
            });
            (timing, details)
        }
        BenchCommand::Augment {
            data: folder,
            augment,
            batch,
            target_size: (height, width),
            epochs,
            images,
            threads,
        } => {
            let datagen = ImageDataGenerator::new(Preprocess::Vgg16).arguments(&augment)?;
            rayon::ThreadPoolBuilder::new()
                .num_threads(usize::from(threads))
                .build_global()
                .context("cannot start the transforming threads")?;
            tch::set_num_threads(i32::from(threads));
            let options = FlowOptions::default()
                .target_size(height, width)
                .batch_size(batch);
            let flow = datagen.flow_from_directory(&folder, options)?;
            let timing = bench::augment(&flow, epochs, images)?;
            let details = json!({ "threads": threads, "batch": batch, "device": "cpu",
                                  "augment": augment, "epochs": epochs });
            (timing, details)
        }
        BenchCommand::Forward {
            model,
            batch,
            target_size: (height, width),
            iterations,
            machine,
            numbers,
        } => {
            let device = machine.start()?;
            let compute = numbers.compute(device)?;
            tch::manual_seed(0);
            let network = model
                .application(false)
                .input_size(i64::from(height), i64::from(width))
                .build(device)?
                .with_compute(compute);
            let timing = bench::forward(&network, batch, iterations)?;
            (
                timing,
                json!({ "threads": machine.threads, "batch": batch, "device": describe(device),
                        "compute": compute.to_string(), "model": model.name() }),
            )
        }
        BenchCommand::Gradcam {
            batch,
            target_size: (height, width),
            layer,
            iterations,
            machine,
        } => {
            let device = machine.start()?;
            tch::manual_seed(0);
            let base = Backbone::Vgg16
                .application(false)
                .input_size(i64::from(height), i64::from(width))
                .build(device)?;
            let model = Experiment::Frozen.model(base)?;
            let timing = bench::grad_cam(&model, &GradCam::new(&layer), batch, iterations)?;
            let forward = timing.forward;
            let details = json!({
                "threads": machine.threads, "batch": batch, "device": describe(device), "layer": layer,
                "compute": "fp32", "forward_seconds": forward.seconds,
                "forward_images_per_second": forward.images_per_second(),
                "grad_cam_over_forward": timing.grad_cam.seconds / forward.seconds,
            });
            (timing.grad_cam, details)
        }
        BenchCommand::Epoch {
            data,
            experiment,
            epochs,
            batch,
            target_size,
            cache,
            numbers,
            machine,
            out,
        } => {
            let device = machine.start()?;
            let compute = numbers.compute(device)?;
            let mut options = RunOptions::new(experiment, &data, out);
            options.epochs = epochs;
            options.batch_size = batch;
            options.target_size = Some(target_size);
            options.cache.enabled = cache == Switch::On;
            options.compute = Some(compute);
            let clock = EpochClock::default();
            let times = Arc::clone(&clock.times);
            let report = experiments::run_with(&options, vec![Box::new(clock)])?;
            let [to_first_epoch, through_first_epoch] = *times.lock().expect("not poisoned");
            let history = &report.history;
            let epoch_seconds = history.seconds.clone();
            let timing = Timing {
                images: data::list_images(&data.join("train"))?.filenames.len() * epochs,
                seconds: epoch_seconds.iter().sum(),
            };
            let details = json!({
                "threads": machine.threads,
                "batch": batch,
                "device": describe(device),
                "cache": cache == Switch::On,
                "compute": compute.to_string(),
                "epoch_seconds": epoch_seconds,
                "before_first_epoch_seconds": to_first_epoch,
                "first_epoch_seconds": through_first_epoch,
                "acc": history.acc().last(),
                "val_acc": history.val_acc().last(),
            });
            (timing, details)
        }
    };
    out!("{}", line(timing, details));
    Ok(())
}

/// Seconds from its making (just before the run starts) to the start of the first epoch (what
/// a run does before it: the model, the flows, the caches of images and features) and to the
/// end of the first epoch.
struct EpochClock {
    started: Instant,
    times: Arc<Mutex<[Option<f64>; 2]>>,
}

impl Default for EpochClock {
    fn default() -> Self {
        EpochClock {
            started: Instant::now(),
            times: Arc::default(),
        }
    }
}

impl EpochClock {
    fn record(&self, which: usize) {
        let mut times = self.times.lock().expect("not poisoned");
        times[which].get_or_insert(self.started.elapsed().as_secs_f64());
    }
}

impl Callback for EpochClock {
    fn on_epoch_begin(&mut self, _: usize, _: &mut Fit) -> catsdogs::Result<()> {
        self.record(0);
        Ok(())
    }

    fn on_epoch_end(&mut self, _: usize, _: &mut Logs, _: &mut Fit) -> catsdogs::Result<()> {
        self.record(1);
        Ok(())
    }
}

/// `cpu` or `cuda`.
fn describe(device: Device) -> &'static str {
    match device {
        Device::Cuda(_) => "cuda",
        _ => "cpu",
    }
}

/// The timing and the details as one JSON object.
fn line(timing: Timing, mut details: serde_json::Value) -> serde_json::Value {
    details["images"] = json!(timing.images);
    details["seconds"] = json!(timing.seconds);
    details["images_per_second"] = json!(timing.images_per_second());
    details
}
