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

use super::Layer;
use crate::error::{Error, Result};
use crate::precision::Compute;
use crate::tensor_file::checked_elements;

/// Where a layer's input comes from: 0 is the model's input, `i + 1` is layer `i`'s output.
pub(crate) type Source = usize;

/// The sources of every layer's inputs, and the shape of one sample at the input and at every
/// layer's output.
#[derive(Clone, Debug)]
pub(crate) struct Graph {
    sources: Vec<Vec<Source>>,
    /// `shapes[0]` is the input's, `shapes[i + 1]` layer `i`'s output's.
    shapes: Vec<Vec<i64>>,
    /// The source of each layer's output, by the layer's name.
    index: HashMap<String, Source>,
}

impl Graph {
    /// The connections of `layers` (of the model `model`) for input samples of `input`,
    /// checked as [`Graph::push`] checks each layer.
    pub(crate) fn of(model: &str, layers: &[Layer], input: &[i64]) -> Result<Graph> {
        let mut graph = Graph {
            sources: Vec::with_capacity(layers.len()),
            shapes: vec![input.to_vec()],
            index: HashMap::new(),
        };
        for layer in layers {
            graph.push(model, layer)?;
        }
        Ok(graph)
    }

    /// Connects `layer` after the layers so far, if it can be: it takes layers that come
    /// before it, as many as its kind takes, of shapes it can take (an `Add`'s of one shape),
    /// and its weights are within the readers' bounds. Otherwise the graph is unchanged and
    /// the error names the model, the layer and what is wrong.
    pub(crate) fn push(&mut self, model: &str, layer: &Layer) -> Result<()> {
        let wrong = |why: String| Error::BadLayer {
            model: model.to_string(),
            layer: layer.name().to_string(),
            why,
        };
        let taken: Vec<Source> = if layer.inputs().is_empty() {
            vec![self.sources.len()]
        } else {
            layer
                .inputs()
                .iter()
                .map(|name| {
                    self.index.get(name).copied().ok_or_else(|| {
                        wrong(format!("it takes {name}, which is not a layer before it"))
                    })
                })
                .collect::<Result<_>>()?
        };
        let (least, most) = layer.kind().op().inputs();
        if taken.len() < least || most.is_some_and(|most| taken.len() > most) {
            return Err(wrong(format!(
                "a {} layer cannot take {} inputs",
                layer.kind().class_name(),
                taken.len()
            )));
        }
        let first = &self.shapes[taken[0]];
        if taken.iter().any(|&s| self.shapes[s] != *first) {
            let found: Vec<&Vec<i64>> = taken.iter().map(|&s| &self.shapes[s]).collect();
            return Err(wrong(format!("its inputs have different shapes {found:?}")));
        }
        for (weight, shape) in layer.kind().weight_shapes() {
            if checked_elements(&shape).is_err() {
                return Err(wrong(format!(
                    "its {weight} of shape {shape:?} is larger than any weight a file may hold"
                )));
            }
        }
        let shape = layer.kind().output_shape(first).ok_or_else(|| {
            wrong(format!(
                "it takes {}, not samples of shape {first:?}",
                layer.kind().op().expects()
            ))
        })?;
        let source = self.sources.len() + 1;
        self.index.entry(layer.name().to_string()).or_insert(source);
        self.sources.push(taken);
        self.shapes.push(shape);
        Ok(())
    }

    /// Whether layers `0..end` take input samples of shape `input` (each can take what flows
    /// into it from there), as the graph's own input shape is checked when it is built.
    pub(crate) fn takes(&self, layers: &[Layer], input: &[i64], end: usize) -> bool {
        let mut shapes = vec![input.to_vec()];
        for (layer, sources) in layers.iter().zip(&self.sources).take(end) {
            let first = &shapes[sources[0]];
            if sources.iter().any(|&s| shapes[s] != *first) {
                return false;
            }
            match layer.kind().output_shape(first) {
                Some(shape) => shapes.push(shape),
                None => return false,
            }
        }
        true
    }

    /// The shape of one sample of the input.
    pub(crate) fn input_shape(&self) -> &[i64] {
        &self.shapes[0]
    }

    /// The shape of one sample at every layer's output.
    pub(crate) fn output_shapes(&self) -> &[Vec<i64>] {
        &self.shapes[1..]
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

    /// Runs layers `range` on `x`, the tensor that flows into layer `range.start`, and returns
    /// the last one's output, each layer's output (and its index) going through `tap`, whose
    /// answer is what the later layers take. Each output is dropped once no later layer of the
    /// range needs it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
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
