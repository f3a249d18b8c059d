//! `catsdogs augment`: one image through Keras's augmentation, over `catsdogs::data`'s
//! `ImageDataGenerator`: a given transform written as a float32 `.npy` (to compare with
//! Keras's `apply_transform`), or random ones shown as a grid.

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use catsdogs::data::{self, ImageDataGenerator, Preprocess, TransformParams};

/// `catsdogs augment`'s arguments.
#[derive(Args)]
#[command(group(ArgGroup::new("what").required(true).args(["transform", "random"])))]
pub struct AugmentArgs {
    /// The image file.
    image: PathBuf,
    /// Resize to HEIGHTxWIDTH first, with Pillow's NEAREST rule, as load_img does.
    #[arg(long, value_parser = data::parse_target_size)]
    target_size: Option<(u32, u32)>,
    /// The transform, as Keras's parameter dictionary in JSON, e.g. '{"theta": 30, "tx": 5,
    /// "zx": 0.9, "flip_horizontal": true}' (theta, tx, ty, shear, zx, zy, flip_horizontal,
    /// flip_vertical, channel_shift_intensity, brightness).
    #[arg(long, requires = "npy")]
    transform: Option<String>,
    /// How points outside the image are filled: nearest (Keras's default), constant, reflect
    /// or wrap. Overrides --augment's fill_mode.
    #[arg(long)]
    fill_mode: Option<String>,
    /// The value outside the image with --fill-mode constant (default 0). Overrides --augment's
    /// cval.
    #[arg(long)]
    cval: Option<f64>,
    /// With --transform: the float32 HEIGHTxWIDTHx3 .npy to write, after load_img and
    /// apply_transform, before any preprocessing.
    #[arg(long)]
    npy: Option<PathBuf>,
    /// Show this many random augmentations instead, as a grid.
    #[arg(long, requires = "out")]
    random: Option<usize>,
    /// The seed of the random augmentations.
    #[arg(long, default_value_t = 0, requires = "random")]
    seed: u64,
    /// The augmentation arguments of --random, with Keras's names: 'classic' (the default:
    /// rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
    /// zoom_range=0.2, horizontal_flip=True, fill_mode=nearest), or pairs such as
    /// rotation_range=20,zoom_range=[0.9,1.1],brightness_range=[0.7,1.3].
    #[arg(long, requires = "random")]
    augment: Option<String>,
    /// With --random: the PNG grid to write.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Checks every argument, then loads the image and writes the array or the grid.
pub fn run(args: AugmentArgs) -> anyhow::Result<()> {
    let plain = ImageDataGenerator::new(Preprocess::None);
    let mut datagen = match &args.transform {
        Some(_) => plain,
        None => plain.arguments(args.augment.as_deref().unwrap_or("classic"))?,
    };
    if let Some(mode) = &args.fill_mode {
        datagen = datagen.fill_mode(mode.parse()?);
    }
    if let Some(cval) = args.cval {
        datagen = datagen.cval(cval);
    }
    datagen.check()?;
    let params = args
        .transform
        .as_deref()
        .map(str::parse::<TransformParams>)
        .transpose()?;
    if let Some(count) = args.random {
        catsdogs::plot::check_augmentations(count)?;
    }
    let image = data::load_img(&args.image, args.target_size)?;
    if let (Some(params), Some(npy)) = (params, &args.npy) {
        let x = datagen.apply_transform(data::img_to_array(&image), &params)?;
        let values: Vec<f32> = x.iter().copied().collect();
        data::write_npy(npy, x.shape(), &values)?;
        let (height, width, _) = x.dim();
        out!("Wrote {} ({height}x{width}x3 float32)", npy.display());
    } else if let (Some(count), Some(out)) = (args.random, &args.out) {
        catsdogs::plot::augmentations(&datagen, &image, count, args.seed)?.save(out)?;
        out!(
            "Wrote {count} augmentations of {} to {}",
            args.image.display(),
            out.display()
        );
    }
    Ok(())
}
