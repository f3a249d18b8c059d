//! The data subcommands: `split`, `sample`, `load-img` and `flow`, over `catsdogs::data`.

use std::path::PathBuf;

use clap::Subcommand;

use catsdogs::data::{self, ImageDataGenerator, Preprocess, SampleOptions, SplitOptions};
use catsdogs::fsutil::refuse_inputs_as_outputs;

/// Data subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Split Kaggle's train.zip (or its extracted folder) into train/validation/test folders of
    /// cats/ and dogs/, with a manifest. Re-running on the same input does nothing.
    Split {
        /// Kaggle's train.zip, or the folder it unpacks to.
        source: PathBuf,
        /// The output folder.
        out: PathBuf,
        #[command(flatten)]
        sizes: SplitFlags,
    },
    /// Write a synthetic Kaggle-like train.zip (cat.N.jpg, dog.N.jpg), labelled as synthetic.
    Sample {
        /// The zip file to write, e.g. sample/train.zip.
        out: PathBuf,
        /// Images per class.
        #[arg(long, default_value_t = 300)]
        per_class: usize,
        /// Kaggle's image sizes (mostly 500x375) instead of 80 to 320 pixels, for benchmarks.
        #[arg(long)]
        kaggle_sizes: bool,
        /// Seed of the drawings.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Classes that overlap (some cats painted as dogs and the other way round), so that a
        /// model lands well below 100%.
        #[arg(long)]
        hard: bool,
        /// Replace an existing file at OUT.
        #[arg(long)]
        force: bool,
    },
    /// Load an image as Keras's load_img + img_to_array (+ preprocess_input) and write it as a
    /// float32 HxWx3 .npy file.
    LoadImg {
        /// The image file.
        img: PathBuf,
        /// Resize to HEIGHTxWIDTH with Pillow's NEAREST rule, e.g. 224x224.
        #[arg(long, value_parser = data::parse_target_size)]
        target_size: Option<(u32, u32)>,
        /// none (RGB 0-255), vgg16 (BGR minus the mean pixel) or torch.
        #[arg(long, default_value = "none", value_parser = str::parse::<Preprocess>)]
        preprocess: Preprocess,
        /// The .npy file to write.
        #[arg(long)]
        npy: PathBuf,
    },
    /// Print, as JSON, the classes and the ordered files that flow_from_directory reads.
    Flow {
        /// A folder of class folders, e.g. data/train.
        dir: PathBuf,
    },
    /// Decode the images of a folder into its cache (as flow_from_directory does) and print the
    /// cache key.
    Cache {
        /// A folder of class folders, e.g. data/train.
        dir: PathBuf,
        /// HEIGHTxWIDTH of the cached images.
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
        /// Cache folder (default: DIR/../.catsdogs-cache/NAME, beside DIR).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

/// How `split` splits.
#[derive(clap::Args)]
pub struct SplitFlags {
    /// Training images, both classes together.
    #[arg(long, default_value_t = 16_000)]
    train: usize,
    /// Validation images.
    #[arg(long, default_value_t = 4_500)]
    validation: usize,
    /// Test images.
    #[arg(long, default_value_t = 4_500)]
    test: usize,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Put every image in train or validation (no test folder).
    #[arg(long)]
    all: bool,
    /// Replace an existing split made from another input or with other options.
    #[arg(long)]
    force: bool,
}

impl From<SplitFlags> for SplitOptions {
    fn from(flags: SplitFlags) -> Self {
        SplitOptions {
            train: flags.train,
            validation: flags.validation,
            test: flags.test,
            seed: flags.seed,
            all: flags.all,
            force: flags.force,
        }
    }
}

/// Runs a data subcommand.
pub fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Split { source, out, sizes } => {
            catsdogs::interrupt::stop_on_ctrl_c();
            let options = SplitOptions::from(sizes);
            out!(
                "{}",
                data::split(&source, &out, &options)?.to_string().trim_end()
            );
        }
        DataCommand::Sample {
            out,
            per_class,
            kaggle_sizes,
            seed,
            hard,
            force,
        } => {
            catsdogs::interrupt::stop_on_ctrl_c();
            let options = SampleOptions {
                per_class,
                kaggle_sizes,
                seed,
                hard,
                force,
            };
            let report = data::sample(&out, &options)?;
            out!(
                "Wrote {} synthetic images ({} bytes) to {}",
                report.images,
                report.bytes,
                report.path.display()
            );
        }
        DataCommand::LoadImg {
            img,
            target_size,
            preprocess,
            npy,
        } => {
            refuse_inputs_as_outputs(&[&img], &[&npy])?;
            let image = data::load_img(&img, target_size)?;
            let x = data::preprocess_input(data::img_to_array(&image), preprocess);
            let values: Vec<f32> = x.iter().copied().collect();
            data::write_npy(&npy, x.shape(), &values)?;
        }
        DataCommand::Flow { dir } => {
            let list = data::list_images(&dir)?;
            out!("{}", serde_json::to_string_pretty(&list.to_json())?);
        }
        DataCommand::Cache {
            dir,
            target_size,
            cache_dir,
        } => {
            let mut options =
                data::FlowOptions::default().target_size(target_size.0, target_size.1);
            options.cache_dir = cache_dir;
            let flow =
                ImageDataGenerator::new(Preprocess::None).flow_from_directory(&dir, options)?;
            let path = flow.cache_path().unwrap_or(&dir);
            out!("{} {}", flow.cache_key(), path.display());
        }
    }
    Ok(())
}
