//! The ImageNet networks' subcommands: `predict-imagenet`, `features`, `summary` and
//! `convert-weights`, over `catsdogs::applications`, `catsdogs::weights` and
//! `catsdogs::imagenet`. `--model` names the network (VGG16 unless set: vgg16, vgg19, resnet50,
//! mobilenet_v2); `--weights` takes a Keras `.h5`, a torchvision `.pth` or a safetensors file,
//! told apart by content, and refused if it holds another network.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;

use catsdogs::applications::{Backbone, Flavor, Pooling, TOP_INPUT_SIZE};
use catsdogs::data::{self, Preprocess};
use catsdogs::fsutil::refuse_inputs_as_outputs;
use catsdogs::imagenet::decode_predictions;
use catsdogs::precision::Precision;
use catsdogs::weights::Weights;
use tch::Tensor;

/// Images per forward pass.
const BATCH: usize = 16;

/// The ImageNet networks' subcommands.
#[derive(Subcommand)]
pub enum ImagenetCommand {
    /// Classify images with a network and its ImageNet top (VGG16 unless --model says), printing
    /// each image's top classes as Keras's decode_predictions gives them.
    PredictImagenet {
        /// The network: vgg16, vgg19, resnet50 or mobilenet_v2.
        #[arg(long, default_value = "vgg16", value_parser = str::parse::<Backbone>)]
        model: Backbone,
        /// Its weights with the top: Keras .h5, torchvision .pth or safetensors.
        #[arg(long)]
        weights: PathBuf,
        /// Image files; each is resized to 224x224 as Keras's load_img does.
        #[arg(required = true)]
        imgs: Vec<PathBuf>,
        /// Classes per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Print one JSON list per image (one line each) of {index, wnid, name, prob}.
        #[arg(long)]
        json: bool,
        /// fp32 (Keras's arithmetic), bf16, fp16 (CUDA) or auto.
        #[arg(long, default_value = "fp32", value_parser = str::parse::<Precision>)]
        precision: Precision,
    },
    /// Write a network's activations at a layer for images as a float32 .npy file, in Keras's
    /// layout: (images, height, width, channels) for maps, (images, features) once flat.
    Features {
        /// The network: vgg16, vgg19, resnet50 or mobilenet_v2.
        #[arg(long, default_value = "vgg16", value_parser = str::parse::<Backbone>)]
        model: Backbone,
        /// Keras .h5, torchvision .pth or safetensors; with the top for the top's layers
        /// (flatten, fc1, fc2, predictions; avg_pool; ...).
        #[arg(long)]
        weights: PathBuf,
        /// The layer whose output is written, e.g. block4_pool or conv4_block6_out (default:
        /// the last layer without the top, block5_pool, conv5_block3_out or out_relu).
        #[arg(long)]
        layer: Option<String>,
        /// Image files.
        #[arg(required = true)]
        imgs: Vec<PathBuf>,
        /// HEIGHTxWIDTH the images are resized to (224x224 for the top's layers).
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
        /// The .npy file to write.
        #[arg(long)]
        npy: PathBuf,
        /// fp32 (Keras's arithmetic), bf16, fp16 (CUDA) or auto.
        #[arg(long, default_value = "fp32", value_parser = str::parse::<Precision>)]
        precision: Precision,
    },
    /// Print a network's summary as Keras prints it: its layers, output shapes and parameter
    /// counts (total, trainable, non-trainable; a network's weights do not matter, so none are
    /// read), or a saved model's (a run folder, our model file, a Keras .h5 or .keras file).
    Summary {
        /// The network (vgg16, vgg19, resnet50 or mobilenet_v2), or a saved model.
        #[arg(long, default_value = "vgg16", value_parser = crate::model::parse_model_arg)]
        model: crate::model::ModelArg,
        /// With the ImageNet top.
        #[arg(long)]
        include_top: bool,
        /// Without the top: none, avg or max.
        #[arg(long, default_value = "none", value_parser = str::parse::<Pooling>)]
        pooling: Pooling,
        /// HEIGHTxWIDTH of the images (224x224 with the top).
        #[arg(long, default_value = "224x224", value_parser = data::parse_target_size)]
        target_size: (u32, u32),
    },
    /// Convert weights (Keras .h5, torchvision .pth) to safetensors, which load memory-mapped
    /// in a fraction of the time.
    ConvertWeights {
        /// The weights file to read.
        input: PathBuf,
        /// The safetensors file to write.
        output: PathBuf,
        /// Refuse the file unless it holds this network's weights: vgg16, vgg19, resnet50 or
        /// mobilenet_v2 (alpha 1.0).
        #[arg(long, value_parser = str::parse::<Backbone>)]
        model: Option<Backbone>,
    },
}

/// Runs an ImageNet network's subcommand.
pub fn run(command: ImagenetCommand) -> anyhow::Result<()> {
    let _no_grad = tch::no_grad_guard();
    match command {
        ImagenetCommand::PredictImagenet {
            model,
            weights,
            imgs,
            top,
            json,
            precision,
        } => {
            let weights = Weights::load(&weights)?;
            let model = model
                .application(true)
                .from_weights(&weights, catsdogs::device())?
                .with_precision(precision);
            let size = (TOP_INPUT_SIZE as u32, TOP_INPUT_SIZE as u32);
            for paths in imgs.chunks(BATCH) {
                let x = load_batch(paths, size, weights.preprocess())?;
                let scores = model.forward(&x)?;
                refuse_non_finite(&scores, paths, "ImageNet scores")?;
                let predictions = decode_predictions(&scores, top)?;
                for (path, classes) in paths.iter().zip(predictions) {
                    if json {
                        out!("{}", serde_json::to_string(&classes)?);
                    } else {
                        let shown: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
                        out!("{}", path.display());
                        out!("Predicted: [{}]", shown.join(", "));
                    }
                }
            }
        }
        ImagenetCommand::Features {
            model,
            weights,
            layer,
            imgs,
            target_size,
            npy,
            precision,
        } => {
            let inputs: Vec<&Path> = imgs
                .iter()
                .map(PathBuf::as_path)
                .chain([&*weights])
                .collect();
            refuse_inputs_as_outputs(&inputs, &[&npy])?;
            let weights = Weights::load(&weights)?;
            weights.expect(model)?;
            let layer = layer.unwrap_or_else(|| model.last_base_layer().to_string());
            let size = TOP_INPUT_SIZE;
            let in_top = !model
                .layers(Flavor::Keras, false, Pooling::None, size, size)
                .iter()
                .any(|spec| spec.name == layer);
            let model = model
                .application(in_top)
                .input_size(target_size.0.into(), target_size.1.into())
                .from_weights(&weights, catsdogs::device())?
                .with_precision(precision);
            let mut outputs = Vec::new();
            for paths in imgs.chunks(BATCH) {
                let x = load_batch(paths, target_size, weights.preprocess())?;
                outputs.push(model.forward_to(&x, &layer)?);
            }
            let features = Tensor::f_cat(&outputs, 0)?;
            let features = if features.dim() == 4 {
                features.f_permute([0, 2, 3, 1])?
            } else {
                features
            };
            let features = features
                .f_to_device(tch::Device::Cpu)?
                .f_to_kind(tch::Kind::Float)?
                .f_contiguous()?;
            refuse_non_finite(&features, &imgs, &format!("{layer} output"))?;
            let shape: Vec<usize> = features.size().iter().map(|&d| d as usize).collect();
            let values = Vec::<f32>::try_from(features.f_flatten(0, -1)?)?;
            data::write_npy(&npy, &shape, &values)?;
        }
        ImagenetCommand::Summary {
            model,
            include_top,
            pooling,
            target_size: (height, width),
        } => {
            let model = match model {
                crate::model::ModelArg::File(path) => {
                    out!("{}", crate::model::summary(&path)?);
                    return Ok(());
                }
                crate::model::ModelArg::Network(network) => network,
            };
            let network = model
                .application(include_top)
                .pooling(pooling)
                .input_size(height.into(), width.into())
                .build(tch::Device::Cpu)?;
            out!("{}", network.summary().to_string().trim_end());
        }
        ImagenetCommand::ConvertWeights {
            input,
            output,
            model,
        } => {
            refuse_inputs_as_outputs(&[&input], &[&output])?;
            let start = Instant::now();
            let weights = Weights::load(&input)?;
            if let Some(backbone) = model {
                weights.expect(backbone)?;
            }
            let loaded = start.elapsed().as_secs_f64();
            weights.save(&output)?;
            let top = if weights.has_top() { "with" } else { "without" };
            out!(
                "Converted {} ({:?}, {top} the top, preprocessing {:?}; read in {loaded:.2} s) to {}",
                input.display(),
                weights.format(),
                weights.preprocess(),
                output.display()
            );
        }
    }
    Ok(())
}

/// Refuses `outputs` (one row per image of `paths`) if a value is not a number, naming the
/// image: such an output is never printed or written as a result.
fn refuse_non_finite(outputs: &Tensor, paths: &[PathBuf], what: &str) -> anyhow::Result<()> {
    if let Some((index, value)) = catsdogs::tensor_file::first_non_finite(outputs)? {
        let per_image = (outputs.numel() / paths.len().max(1)).max(1);
        let image = paths[(index / per_image).min(paths.len() - 1)].display();
        return Err(catsdogs::Error::NotFinite {
            what: format!("the {what} of {image}"),
            value,
        }
        .into());
    }
    Ok(())
}

/// Images loaded as Keras's `load_img(path, target_size)` and preprocessed for the weights:
/// a (N, 3, H, W) batch on the compute device.
fn load_batch(
    paths: &[PathBuf],
    (height, width): (u32, u32),
    preprocess: Preprocess,
) -> anyhow::Result<Tensor> {
    let mut pixels = Vec::new();
    for path in paths {
        let image = data::load_img(Path::new(path), Some((height, width)))?;
        pixels.extend_from_slice(image.as_raw());
    }
    let shape = [paths.len() as i64, height.into(), width.into(), 3];
    let images = Tensor::f_from_slice(&pixels)?
        .f_view(shape)?
        .f_to_device(catsdogs::device())?;
    Ok(data::f_preprocess_batch(&images, preprocess)?)
}
