//! `catsdogs explain`: Grad-CAM, where the network looked, over `catsdogs::gradcam`. One overlay
//! PNG per image in the output folder, one line per image with the prediction, and the raw maps
//! as `.npy` if asked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};

use catsdogs::data::{self, Preprocess};
use catsdogs::experiments;
use catsdogs::fsutil::refuse_inputs_as_outputs;
use catsdogs::gradcam::{GradCam, Target, DEFAULT_OPACITY};
use catsdogs::model::Model;
use catsdogs::plot::Colormap;
use catsdogs::weights::Weights;
use catsdogs::Error;

/// Images explained per forward and backward pass.
const BATCH: usize = 16;

/// `catsdogs explain`'s arguments.
#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["model", "weights"])))]
pub struct ExplainArgs {
    /// Image files.
    #[arg(required = true)]
    imgs: Vec<PathBuf>,
    /// A trained run (its folder or model file): explains the probability of a dog.
    #[arg(long)]
    model: Option<PathBuf>,
    /// A network's weights with the ImageNet top (VGG16, VGG19, ResNet50 or MobileNetV2; Keras
    /// .h5, torchvision .pth or safetensors): explains each image's top-1 class.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// The folder to write the overlays to, IMAGE-gradcam.png for each image.
    #[arg(long)]
    out: PathBuf,
    /// The convolutional layer whose output is explained, by its Keras name (default: the
    /// network's last convolution, block5_conv3 in VGG16).
    #[arg(long)]
    layer: Option<String>,
    /// The class explained instead: an ImageNet class index (0-999) with --weights; 0 (cat) or
    /// 1 (dog, the default) with --model.
    #[arg(long)]
    class: Option<usize>,
    /// Also write the maps as a float32 .npy of shape (images, height, width), at the layer's
    /// resolution, in [0, 1].
    #[arg(long)]
    npy: Option<PathBuf>,
    /// jet (as Keras's Grad-CAM example) or viridis.
    #[arg(long, default_value = "jet", value_parser = str::parse::<Colormap>)]
    colormap: Colormap,
    /// How opaque the map is over the image, from 0 to 1.
    #[arg(long, default_value_t = DEFAULT_OPACITY)]
    opacity: f32,
    /// none, vgg16 or torch (default: the run's, or the weights' own).
    #[arg(long, value_parser = str::parse::<Preprocess>)]
    preprocess: Option<Preprocess>,
}

/// Runs `catsdogs explain`.
pub fn run(args: ExplainArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.opacity) {
        return Err(Error::Opacity(args.opacity).into());
    }
    let cam = match &args.layer {
        Some(layer) => GradCam::new(layer),
        None => GradCam::default(),
    };
    let cam = cam.colormap(args.colormap).opacity(args.opacity);
    data::refuse_output_inside_split(&args.out)?;
    let overlays = output_paths(&args.imgs, &args.out);
    let inputs: Vec<&Path> = args
        .imgs
        .iter()
        .chain(&args.model)
        .chain(&args.weights)
        .map(PathBuf::as_path)
        .collect();
    let outputs: Vec<&Path> = overlays
        .iter()
        .chain(&args.npy)
        .map(PathBuf::as_path)
        .collect();
    refuse_inputs_as_outputs(&inputs, &outputs)?;
    match (&args.model, &args.weights) {
        (Some(model), _) => {
            let model = experiments::load_trained(model, args.preprocess)?;
            let cam = cam.target(Target::Class(args.class.unwrap_or(1)));
            explain(&model, &cam, &args, &overlays)
        }
        (None, Some(weights)) => {
            let weights = Weights::load(weights)?;
            let model = weights
                .backbone()
                .application(true)
                .from_weights(&weights, catsdogs::device())?;
            let model = match args.preprocess {
                Some(preprocess) => model.with_preprocess(preprocess),
                None => model,
            };
            let cam = cam.target(args.class.map_or(Target::Predicted, Target::Class));
            explain(&model, &cam, &args, &overlays)
        }
        (None, None) => unreachable!("clap requires --model or --weights"),
    }
}

/// Explains the images in batches, writes each overlay to its path of `outputs` and prints
/// each prediction, then the maps if asked.
fn explain(
    model: &Model,
    cam: &GradCam,
    args: &ExplainArgs,
    outputs: &[PathBuf],
) -> anyhow::Result<()> {
    let mut maps = Vec::new();
    let mut shape = [0usize; 3];
    for (paths, outs) in args.imgs.chunks(BATCH).zip(outputs.chunks(BATCH)) {
        let explained = cam.explain_files(model, paths, model.preprocess())?;
        let e = &explained.explanation;
        let overlays = explained.overlays()?;
        for (i, (path, out)) in paths.iter().zip(outs).enumerate() {
            catsdogs::display::Png::from_rgb(&overlays[i])?.save(out)?;
            let (class, probability) = e.prediction(i)?;
            let answer = if e.probabilities.size()[1] == 1 {
                let dog = e.probabilities.f_double_value(&[i as i64, 0])?;
                format!("{} (dog probability {dog:.4})", e.name_of(class))
            } else {
                format!("{} {probability:.4} (class {class})", e.name_of(class))
            };
            out!(
                "{}: {answer}; Grad-CAM of {} at {}: {}",
                path.display(),
                e.class_name(i),
                e.layer,
                out.display()
            );
        }
        let size = e.maps.size();
        shape = [
            shape[0] + size[0] as usize,
            size[1] as usize,
            size[2] as usize,
        ];
        maps.extend(Vec::<f32>::try_from(e.maps.f_flatten(0, -1)?)?);
    }
    if let Some(npy) = &args.npy {
        data::write_npy(npy, &shape, &maps)?;
    }
    Ok(())
}

/// `OUT/NAME-gradcam.png` for each image, NAME its file name without the extension; a name
/// that repeats gets `-2`, `-3`, ... so that no overlay overwrites another.
fn output_paths(imgs: &[PathBuf], out: &Path) -> Vec<PathBuf> {
    let mut taken = HashSet::new();
    imgs.iter()
        .map(|img| {
            let stem = img
                .file_stem()
                .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
            let mut name = format!("{stem}-gradcam.png");
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{stem}-{n}-gradcam.png");
            }
            out.join(name)
        })
        .collect()
}
