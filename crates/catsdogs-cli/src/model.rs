//! The subcommands of whole models, over `catsdogs::weights::load_model` and
//! `Model::save_keras`: `convert-model` between a run (or our model file) and Keras's `.keras`
//! and `.h5` files; and what `predict` and `summary` need to take Keras's files and ready
//! input batches (`--npy`), and to print raw outputs (`--json`).

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Subcommand;

use catsdogs::applications::Backbone;
use catsdogs::data::read_npy;
use catsdogs::experiments;
use catsdogs::model::Model;
use tch::{Device, Kind, Tensor};

/// Inputs per forward pass of `--json`'s outputs, as Keras's `predict` batches them.
const BATCH: i64 = 32;

/// The subcommands of whole models.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Convert a model between a run folder (or our model file) and Keras's formats, by OUT's
    /// extension: .keras (Keras 3), .h5 (Keras 2, tf_keras) or .safetensors (ours); either
    /// side may be Keras's.
    ConvertModel {
        /// A run folder, a model file, or a Keras .h5 or .keras model.
        input: PathBuf,
        /// The file to write; it must not exist yet.
        output: PathBuf,
    },
}

/// Runs a model subcommand.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::ConvertModel { input, output } => {
            let source = experiments::model_file(&input);
            if same_file(&source, &output) {
                bail!(
                    "{} is the model that {} holds: give another file to write, such as model.keras",
                    output.display(),
                    input.display()
                );
            }
            if output.exists() {
                bail!(
                    "{} exists already, and convert-model writes only new files: move it away or give another name",
                    output.display()
                );
            }
            let model = experiments::load_saved(&input)?;
            let extension = output
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            if extension.eq_ignore_ascii_case("safetensors") {
                model.save(&output)?;
            } else {
                model.save_keras(&output)?;
            }
            let summary = model.summary();
            out!(
                "Converted {} ({}, {} parameters, {} trainable) to {}",
                input.display(),
                model.name(),
                summary.total_params(),
                summary.trainable_params(),
                output.display()
            );
        }
    }
    Ok(())
}

/// Whether two paths name the same file (the second need not exist).
fn same_file(a: &Path, b: &Path) -> bool {
    let resolved = |p: &Path| {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        parent
            .canonicalize()
            .ok()
            .map(|dir| dir.join(p.file_name().unwrap_or_default()))
    };
    a == b || (resolved(a).is_some() && resolved(a) == resolved(b))
}

/// What `summary --model` names: one of the networks, or a model file (a run folder, ours, or
/// Keras's).
#[derive(Clone, Debug)]
pub enum ModelArg {
    /// A network of `catsdogs::applications`.
    Network(Backbone),
    /// A model to load.
    File(PathBuf),
}

/// `--model`: an existing file or folder is a model to load, else a network's name.
pub fn parse_model_arg(text: &str) -> Result<ModelArg, String> {
    if Path::new(text).exists() {
        return Ok(ModelArg::File(text.into()));
    }
    text.parse::<Backbone>().map(ModelArg::Network).map_err(|_| {
        format!("{text:?} is neither a model file nor a network: give a run folder, a model file (ours, .h5 or .keras), or vgg16, vgg19, resnet50 or mobilenet_v2")
    })
}

/// The summary of a saved model, as Keras prints it.
pub fn summary(path: &Path) -> anyhow::Result<String> {
    let model = experiments::load_saved(path)?;
    Ok(model.summary().to_string().trim_end().to_string())
}

/// A ready input batch from a `.npy` file: float32 (images, height, width, channels), as the
/// model takes them; as (N, C, H, W) for the model, with a name for each input.
pub fn npy_batch(path: &Path, model: &Model) -> anyhow::Result<(Tensor, Vec<String>)> {
    let (shape, values) = read_npy(path)?;
    let expected = match model.input_shape() {
        [c, h, w] => vec![*h, *w, *c],
        other => other.to_vec(),
    };
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    if dims.len() != expected.len() + 1 || dims[1..] != expected[..] || dims[0] == 0 {
        let wanted: Vec<String> = expected.iter().map(i64::to_string).collect();
        bail!(
            "{} holds an array of shape {shape:?}, where {} takes (images, {}) of float32: save the preprocessed batch in that shape",
            path.display(),
            model.name(),
            wanted.join(", ")
        );
    }
    let x = Tensor::f_from_slice(&values)?.f_reshape(&dims)?;
    let x = if dims.len() == 4 {
        x.f_permute([0, 3, 1, 2])?.f_contiguous()?
    } else {
        x
    };
    let names = (0..dims[0])
        .map(|i| format!("{}[{i}]", path.display()))
        .collect();
    Ok((x, names))
}

/// `{"outputs": [[..], ..]}`: the model's raw outputs for each input (maps as height, width,
/// channels, as Keras gives them), run in batches of 32.
pub fn outputs_json(model: &Model, x: &Tensor) -> anyhow::Result<String> {
    let _no_grad = tch::no_grad_guard();
    let mut outputs = Vec::new();
    for chunk in x.f_split(BATCH, 0)? {
        let y = model.forward(&chunk.f_to_device(model.device())?)?;
        outputs.push(y.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?);
    }
    let y = Tensor::f_cat(&outputs, 0)?;
    let y = if y.dim() == 4 {
        y.f_permute([0, 2, 3, 1])?
    } else {
        y
    };
    let count = y.size()[0];
    let rows: Vec<Vec<f32>> = (0..count)
        .map(|i| Vec::<f32>::try_from(y.f_get(i)?.f_flatten(0, -1)?.f_contiguous()?))
        .collect::<Result<_, _>>()?;
    Ok(serde_json::json!({ "outputs": rows }).to_string())
}
