//! What Keras's `compile` gave a saved model, read and written: the optimizer, the loss and
//! the metrics (Keras 2's `training_config`, Keras 3's `compile_config`), and the optimizer's
//! variables (Keras 2's `optimizer_weights`, named after the weights; Keras 3's `optimizer/vars`,
//! the step count, the learning rate, then each trainable weight's slots in order), converted
//! between Keras's layout and this crate's as the weights are.
//!
//! A compiled optimizer or loss this crate lacks leaves the model uncompiled, and a state that
//! does not fit the model's trainable weights leaves the optimizer fresh, each with a warning
//! (as Keras warns when it cannot restore them): the model still loads and predicts.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};
use tch::{Kind, Tensor};

use crate::console::warn;
use crate::error::Result;
use crate::losses::Loss;
use crate::model::{Layer, Model};
use crate::optimizers::{self, Optimizer};
use crate::weights::keras_file::{KerasFile, KerasFormat, Values, Weight};
use crate::weights::layout::Layout;

/// One trainable weight: its name here (`dense_1/kernel`), its layer and its own name there.
pub(super) struct Trainable<'a> {
    pub(super) name: String,
    pub(super) layer: &'a Layer,
    pub(super) weight: &'static str,
}

/// The weights the optimizer trains, in Keras's order (the layers', each's in order).
pub(super) fn trainable(model: &Model) -> Vec<Trainable<'_>> {
    model
        .layers()
        .iter()
        .flat_map(|layer| {
            let trained: Vec<&'static str> = if layer.trainable() {
                layer
                    .kind()
                    .op()
                    .weights()
                    .iter()
                    .filter(|w| w.trained)
                    .map(|w| w.name)
                    .collect()
            } else {
                Vec::new()
            };
            trained.into_iter().map(move |weight| Trainable {
                name: format!("{}/{weight}", layer.name()),
                layer,
                weight,
            })
        })
        .collect()
}

impl Trainable<'_> {
    /// The shape of the weight (and its slots) in Keras's layout.
    pub(super) fn keras_shape(&self) -> Vec<i64> {
        let kind = self.layer.kind();
        let own = kind
            .op()
            .weights()
            .into_iter()
            .find(|w| w.name == self.weight);
        let own = own.map(|w| w.shape).unwrap_or_default();
        Layout::Keras.shape(kind, self.weight, &own)
    }
}

/// The optimizer's `{"class_name", "config"}` and the loss that `file`'s model was compiled
/// with, if it was.
fn compile_config(file: &KerasFile) -> Option<(&Value, &Value)> {
    match file.format {
        KerasFormat::Keras2H5 => {
            let training = file.training_config.as_ref()?;
            Some((&training["optimizer_config"], &training["loss"]))
        }
        KerasFormat::Keras3Zip => {
            let compiled = &file.model_config["compile_config"];
            compiled["optimizer"]
                .is_object()
                .then(|| (&compiled["optimizer"], &compiled["loss"]))
        }
    }
}

/// Compiles `model` as `file` says it was, with the optimizer's state from the file; leaves it
/// uncompiled (with a warning) where this crate lacks the optimizer or the loss.
/// `flatten_inputs` are the maps whose Flatten feeds a `Dense`, by the `Dense`'s name.
pub(super) fn compile(
    model: &mut Model,
    file: &KerasFile,
    path: &Path,
    flatten_inputs: &HashMap<String, Vec<i64>>,
) -> Result<()> {
    let Some((optimizer, loss)) = compile_config(file) else {
        return Ok(());
    };
    let class = optimizer["class_name"].as_str().unwrap_or_default();
    let uncompiled = |why: &dyn std::fmt::Display| {
        warn(format_args!(
            "{} was compiled with {why}: the model is loaded uncompiled; compile it before fit",
            path.display()
        ));
        Ok(())
    };
    let mut optimizer = match optimizers::from_keras(class, &optimizer["config"]) {
        Ok(optimizer) => optimizer,
        Err(why) => return uncompiled(&why),
    };
    let loss = match Loss::from_keras(loss) {
        Ok(loss) => loss,
        Err(why) => return uncompiled(&why),
    };
    if !file.optimizer.is_empty() {
        match state(model, file, optimizer.as_ref(), flatten_inputs) {
            Ok(Restored { state, lr }) => {
                optimizer.load_state(state, model.device())?;
                // Keras 3 keeps the learning rate as float32: the config's, unless it moved.
                if lr.is_some_and(|lr| lr as f32 != optimizer.learning_rate() as f32) {
                    optimizer.set_learning_rate(lr.unwrap_or_default());
                }
            }
            Err(why) => warn(format_args!(
                "{}: its optimizer's state {why}: fit starts {} afresh",
                path.display(),
                optimizer.config()
            )),
        }
    }
    model.compile_boxed(optimizer, loss);
    Ok(())
}

/// A stored variable as a tensor of its shape.
fn tensor(weight: &Weight) -> Result<Tensor> {
    let shape: Vec<i64> = weight.shape.iter().map(|&n| n as i64).collect();
    let tensor = match &weight.values {
        Values::F32(values) => Tensor::f_from_slice(values),
        Values::I64(values) => Tensor::f_from_slice(values),
    };
    Ok(tensor?.f_reshape(&shape)?)
}

/// Why a file's optimizer variables do not fit the model's optimizer; it reads as what the
/// state does ("holds 3 slots, where ...").
#[derive(Debug, thiserror::Error)]
enum StateRefusal {
    /// A variable that is no slot of the optimizer for a trainable weight.
    #[error("holds {name}, which is no slot of {optimizer} for a trainable weight of the model")]
    UnknownSlot { name: String, optimizer: String },
    /// Keras 3's variables without the step count and the learning rate.
    #[error(
        "has fewer than the two variables (the step count, the learning rate) that Keras keeps"
    )]
    TooFewVariables,
    /// Keras 3's learning rate variable that is not one number.
    #[error("has a learning rate that is not one number")]
    LearningRate,
    /// Another number of slots than the model's trainable weights make.
    #[error("holds {found} slots, where the model's {weights} trainable weights make {expected} for {optimizer}")]
    SlotCount {
        found: usize,
        weights: usize,
        expected: usize,
        optimizer: String,
    },
    /// A slot of another shape than its weight's.
    #[error("holds a slot of shape {found:?} for {weight}, whose shape is {shape:?}")]
    SlotShape {
        found: Vec<i64>,
        weight: String,
        shape: Vec<i64>,
    },
    /// A variable that cannot be made a tensor of the optimizer's state.
    #[error("cannot be read: {0}")]
    Unreadable(#[from] crate::Error),
}

/// An optimizer's state as read from a file.
struct Restored {
    /// In this crate's names and layout.
    state: Vec<(String, Tensor)>,
    /// The learning rate Keras 3 keeps among the variables.
    lr: Option<f64>,
}

/// The file's optimizer variables as `optimizer`'s state; why not when they do not fit the
/// model.
fn state(
    model: &Model,
    file: &KerasFile,
    optimizer: &dyn Optimizer,
    flatten_inputs: &HashMap<String, Vec<i64>>,
) -> std::result::Result<Restored, StateRefusal> {
    let keras = optimizer.keras_state();
    let weights = trainable(model);
    let expected = weights.len() * keras.slots.len();
    let mut state = Vec::with_capacity(expected + 1);
    let mut lr = None;
    // (weight, slot suffix, stored value), each checked and converted below.
    let mut slots: Vec<(&Trainable, &str, &Weight)> = Vec::with_capacity(expected);
    let mut iterations = None;
    // How many slots the file holds.
    let found = match file.format {
        KerasFormat::Keras2H5 => {
            for stored in &file.optimizer {
                let name = stored.name.trim_end_matches(":0");
                if name == "iteration" || name == "iter" {
                    iterations = Some(stored);
                    continue;
                }
                let mut parts = name.splitn(3, '/').skip(1);
                let (slot, of) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                let suffix = keras
                    .slots
                    .iter()
                    .find(|(s, _)| *s == slot)
                    .map(|(_, suffix)| *suffix);
                let weight = weights.iter().find(|w| w.name == of);
                match (suffix, weight) {
                    (Some(suffix), Some(weight)) => slots.push((weight, suffix, stored)),
                    _ => {
                        return Err(StateRefusal::UnknownSlot {
                            name: stored.name.clone(),
                            optimizer: optimizer.config(),
                        })
                    }
                }
            }
            slots.len()
        }
        KerasFormat::Keras3Zip => {
            let [count, rate, rest @ ..] = file.optimizer.as_slice() else {
                return Err(StateRefusal::TooFewVariables);
            };
            iterations = Some(count);
            lr = match &rate.values {
                Values::F32(values) if values.len() == 1 => Some(f64::from(values[0])),
                _ => return Err(StateRefusal::LearningRate),
            };
            // In order: each trainable weight's slots.
            let places = weights
                .iter()
                .flat_map(|w| keras.slots.iter().map(move |(_, suffix)| (w, *suffix)));
            slots.extend(
                places
                    .zip(rest)
                    .map(|((w, suffix), stored)| (w, suffix, stored)),
            );
            rest.len()
        }
    };
    if found != expected {
        return Err(StateRefusal::SlotCount {
            found,
            weights: weights.len(),
            expected,
            optimizer: optimizer.config(),
        });
    }
    for (weight, suffix, stored) in slots {
        let shape = weight.keras_shape();
        let found: Vec<i64> = stored.shape.iter().map(|&n| n as i64).collect();
        if found != shape {
            return Err(StateRefusal::SlotShape {
                found,
                weight: weight.name.clone(),
                shape,
            });
        }
        let kind = weight.layer.kind();
        let maps = flatten_inputs.get(weight.layer.name()).map(Vec::as_slice);
        let own = Layout::Keras.to_own(tensor(stored)?, kind, weight.weight, maps)?;
        state.push((format!("{}{suffix}", weight.name), own));
    }
    if let (Some(name), Some(count)) = (keras.iterations, iterations) {
        let count = tensor(count)?
            .f_to_kind(Kind::Int64)
            .and_then(|t| t.f_reshape([1]))
            .map_err(crate::Error::from)?;
        state.push((name.to_string(), count));
    }
    Ok(Restored { state, lr })
}

/// Keras's config of what `model` was compiled with: Keras 2's `training_config` or Keras
/// 3's `compile_config` (`None` when uncompiled).
pub(super) fn keras_config(model: &Model, format: KerasFormat) -> Option<Value> {
    let compiled = model.compiled().ok()?;
    let (class, mut config) = compiled.optimizer.keras_config();
    let loss = compiled.loss.name();
    Some(match format {
        KerasFormat::Keras2H5 => {
            // tf_keras's names for its current optimizers (its legacy ones keep their state in
            // another order).
            config["name"] = json!(class);
            config["is_legacy_optimizer"] = json!(false);
            json!({
                "loss": loss,
                "metrics": ["accuracy"],
                "weighted_metrics": null,
                "loss_weights": null,
                "optimizer_config": {"class_name": format!("Custom>{class}"), "config": config},
            })
        }
        KerasFormat::Keras3Zip => {
            config["name"] = json!(class.to_lowercase());
            json!({
                "optimizer": {"module": "keras.optimizers", "class_name": class, "config": config, "registered_name": null},
                "loss": loss,
                "loss_weights": null,
                "metrics": ["accuracy"],
                "weighted_metrics": null,
                "run_eagerly": false,
                "steps_per_execution": 1,
                "jit_compile": false,
            })
        }
    })
}

/// The optimizer's state as Keras's variables, when it holds every slot of every trainable
/// weight (an optimizer that has not stepped yet holds none, and Keras starts it afresh).
pub(super) fn keras_state(
    model: &Model,
    format: KerasFormat,
    flatten_inputs: &HashMap<String, Vec<i64>>,
) -> Result<Vec<Weight>> {
    let Ok(compiled) = model.compiled() else {
        return Ok(Vec::new());
    };
    let optimizer = compiled.optimizer.as_ref();
    let keras = optimizer.keras_state();
    let state: HashMap<String, Tensor> = optimizer.state().into_iter().collect();
    let weights = trainable(model);
    let (class, _) = optimizer.keras_config();
    let mut slots = Vec::with_capacity(weights.len() * keras.slots.len());
    for weight in &weights {
        for (slot, suffix) in keras.slots {
            let Some(value) = state.get(&format!("{}{suffix}", weight.name)) else {
                return Ok(Vec::new());
            };
            let kind = weight.layer.kind();
            let maps = flatten_inputs.get(weight.layer.name()).map(Vec::as_slice);
            let keras_value =
                Layout::Keras.to_file(value.shallow_clone(), kind, weight.weight, maps)?;
            let name = match format {
                KerasFormat::Keras2H5 => format!("{class}/{slot}/{}:0", weight.name),
                KerasFormat::Keras3Zip => String::new(),
            };
            slots.push(super::weight(name, &keras_value)?);
        }
    }
    let steps = keras
        .iterations
        .and_then(|name| state.get(name))
        .map(|t| t.f_int64_value(&[0]))
        .transpose()?
        .unwrap_or(0);
    let count = Weight {
        name: "iteration:0".into(),
        shape: Vec::new(),
        values: Values::I64(vec![steps]),
    };
    let mut variables = vec![count];
    if format == KerasFormat::Keras3Zip {
        variables.push(Weight {
            name: String::new(),
            shape: Vec::new(),
            values: Values::F32(vec![optimizer.learning_rate() as f32]),
        });
    }
    variables.extend(slots);
    if format == KerasFormat::Keras3Zip {
        for (i, variable) in variables.iter_mut().enumerate() {
            variable.name = i.to_string();
        }
    }
    Ok(variables)
}
