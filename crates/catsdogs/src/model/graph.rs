//! How the layers of a stack connect: each layer takes the previous layer's output, or the
//! outputs of the layers it names (a residual block's shortcut and its `Add`). The layers are
//! in an order where every layer comes after those it takes (Keras's `model.layers` order), so
//! running them in order runs the network; only the outputs that a later layer still needs are
//! kept.
//!
//! A range of layers can run on its own when a single tensor flows into it: the output of one
//! earlier layer (or the model's input). That is true between VGG's layers and between
//! ResNet50's and MobileNetV2's blocks, not inside a block, where the shortcut is live too.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use tch::Tensor;

use super::{Layer, LayerKind};
use crate::error::{Error, Result};
use crate::precision::Compute;

/// Where a layer's input comes from: 0 is the model's input, `i + 1` is layer `i`'s output.
pub(crate) type Source = usize;

/// The sources of every layer's inputs.
#[derive(Debug)]
pub(crate) struct Graph {
    sources: Vec<Vec<Source>>,
}

impl Graph {
    /// The connections of `layers`: a sentence saying what is wrong if a layer takes one that
    /// does not come before it, or takes a number of inputs its kind cannot.
    pub(crate) fn of(layers: &[Layer]) -> Result<Graph, String> {
        let mut index: HashMap<&str, Source> = HashMap::new();
        let mut sources = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let taken: Vec<Source> = if layer.inputs().is_empty() {
                vec![i]
            } else {
                layer
                    .inputs()
                    .iter()
                    .map(|name| {
                        index.get(name.as_str()).copied().ok_or_else(|| {
                            format!(
                                "layer {} takes {name}, which is not a layer before it",
                                layer.name()
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            let is_add = *layer.kind() == LayerKind::Add;
            if (is_add && taken.len() < 2) || (!is_add && taken.len() != 1) {
                return Err(format!(
                    "layer {} ({}) takes {} inputs",
                    layer.name(),
                    layer.kind().class_name(),
                    taken.len()
                ));
            }
            index.entry(layer.name()).or_insert(i + 1);
            sources.push(taken);
        }
        Ok(Graph { sources })
    }

    /// The sources that layers `range` take from before the range, in order.
    fn live(&self, range: Range<usize>) -> Vec<Source> {
        let start = range.start;
        let live: BTreeSet<Source> = self.sources[range]
            .iter()
            .flatten()
            .copied()
            .filter(|&source| source <= start)
            .collect();
        live.into_iter().collect()
    }

    /// Whether layers `start..` can run on one tensor: a single output flows into them.
    pub(crate) fn is_cut(&self, start: usize) -> bool {
        start == 0 || self.live(start..self.sources.len()).len() == 1
    }

    /// The tensor that flows into layers `range` from before them: 0 for the model's input,
    /// else the index of the layer whose output it is, plus one. `None` when several do.
    pub(crate) fn entry(&self, range: Range<usize>) -> Option<Source> {
        let start = range.start;
        match self.live(range)[..] {
            [single] => Some(single),
            [] => Some(start),
            _ => None,
        }
    }

    /// The layers whose outputs flow into layer `start` from before it.
    pub(crate) fn entries(&self, layers: &[Layer], start: usize) -> Vec<String> {
        self.live(start..self.sources.len())
            .into_iter()
            .map(|source| match source {
                0 => "the input".to_string(),
                layer => layers[layer - 1].name().to_string(),
            })
            .collect()
    }

    /// The names of the layers that layer `index` takes, `input_1` for the model's input (as
    /// Keras 2.2 names its input layer).
    pub(crate) fn inputs_of<'a>(&self, layers: &'a [Layer], index: usize) -> Vec<&'a str> {
        self.sources[index]
            .iter()
            .map(|&source| match source {
                0 => "input_1",
                layer => layers[layer - 1].name(),
            })
            .collect()
    }

    /// The shape of one sample at every layer's output, for input samples of `input`.
    pub(crate) fn shapes(&self, layers: &[Layer], input: &[i64]) -> Vec<Vec<i64>> {
        let mut shapes: Vec<Vec<i64>> = vec![input.to_vec()];
        for (layer, sources) in layers.iter().zip(&self.sources) {
            let shape = layer.kind().output_shape(&shapes[sources[0]]);
            shapes.push(shape);
        }
        shapes.remove(0);
        shapes
    }

    /// Whether every layer can take what flows into it from input samples of `input` (see
    /// [`LayerKind::check_input`]), and an `Add`'s inputs have one shape.
    pub(crate) fn check(&self, layers: &[Layer], input: &[i64]) -> Result<(), String> {
        let mut shapes: Vec<Vec<i64>> = vec![input.to_vec()];
        for (layer, sources) in layers.iter().zip(&self.sources) {
            let first = &shapes[sources[0]];
            if sources.iter().any(|&s| shapes[s] != *first) {
                return Err(format!(
                    "layer {}: inputs of different shapes",
                    layer.name()
                ));
            }
            layer
                .kind()
                .check_input(first)
                .map_err(|why| format!("layer {}: {why}", layer.name()))?;
            shapes.push(layer.kind().output_shape(first));
        }
        Ok(())
    }

    /// Runs layers `range` on `x`, the tensor that flows into layer `range.start`, and returns
    /// the last one's output. Each output is dropped once no later layer of the range needs it.
    pub(crate) fn run(
        &self,
        layers: &[Layer],
        model: &str,
        x: &Tensor,
        range: Range<usize>,
        train: bool,
        compute: Compute,
    ) -> Result<Tensor> {
        self.run_tapped(layers, model, x, range, train, compute, &mut |_, y| Ok(y))
    }

    /// [`Graph::run`], with each layer's output (and its index) going through `tap`, whose
    /// answer is what the later layers take: Grad-CAM makes one layer's output a leaf whose
    /// gradient it reads.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_tapped(
        &self,
        layers: &[Layer],
        model: &str,
        x: &Tensor,
        range: Range<usize>,
        train: bool,
        compute: Compute,
        tap: &mut dyn FnMut(usize, Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let entry = self.entry(range.clone()).ok_or_else(|| Error::Cut {
            model: model.to_string(),
            layer: layers[range.start].name().to_string(),
            needs: self.entries(layers, range.start),
        })?;
        let mut uses = vec![0usize; layers.len() + 1];
        for source in self.sources[range.clone()].iter().flatten() {
            uses[*source] += 1;
        }
        let mut values: Vec<Option<Tensor>> = (0..=layers.len()).map(|_| None).collect();
        values[entry] = Some(x.shallow_clone());
        let mut last = x.shallow_clone();
        for i in range {
            let inputs: Vec<&Tensor> = self.sources[i]
                .iter()
                .map(|&s| values[s].as_ref().expect("a layer's inputs come before it"))
                .collect();
            let y = tap(i, layers[i].run(&inputs, train, compute)?)?;
            for &source in &self.sources[i] {
                uses[source] -= 1;
                if uses[source] == 0 {
                    values[source] = None;
                }
            }
            last = y.shallow_clone();
            values[i + 1] = Some(y);
        }
        Ok(last)
    }
}
