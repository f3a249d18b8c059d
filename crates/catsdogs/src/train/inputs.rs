//! Where a pass over a flow reads its inputs: the images, or their cached features at the
//! model's cut, batch by batch in the flow's order.

use tch::{Device, Tensor};

use crate::data::DirectoryIterator;
use crate::error::Result;
use crate::features::{self, CacheOptions, Features, Request};
use crate::model::Model;
use crate::precision::Compute;

/// The images of a flow, or their features at a cut.
pub(super) enum Inputs<'a> {
    Images(&'a DirectoryIterator),
    Features(&'a DirectoryIterator, Features),
}

impl Inputs<'_> {
    pub(super) fn flow(&self) -> &DirectoryIterator {
        match self {
            Inputs::Images(flow) | Inputs::Features(flow, _) => flow,
        }
    }

    /// The index of the first layer to run on this source's batches.
    pub(super) fn start(&self) -> usize {
        match self {
            Inputs::Images(_) => 0,
            Inputs::Features(_, features) => features.start(),
        }
    }

    /// The (input, labels) batches of `epoch`, in the flow's order for that epoch.
    pub(super) fn batches(
        &self,
        epoch: usize,
        device: Device,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + '_> {
        match self {
            Inputs::Images(flow) => Box::new(
                flow.epoch(epoch, device)
                    .map(|batch| batch.map(|b| (b.x, b.y))),
            ),
            Inputs::Features(flow, features) => {
                let order = flow.epoch_order(epoch);
                let batch_size = flow.batch_size();
                Box::new((0..order.len()).step_by(batch_size).map(move |first| {
                    let indices = &order[first..(first + batch_size).min(order.len())];
                    let labels: Vec<f32> =
                        indices.iter().map(|&i| flow.classes[i] as f32).collect();
                    let y = Tensor::f_from_slice(&labels)?.f_to_device(device)?;
                    Ok((features.batch(indices, device)?, y))
                }))
            }
        }
    }
}

/// Where a pass over `flow` reads its inputs: the features at the model's cut if the cache has
/// them (or, with `make`, can make them), else the images.
pub(super) fn source<'a>(
    model: &Model,
    options: &CacheOptions,
    flow: &'a DirectoryIterator,
    compute: Compute,
    make: bool,
) -> Result<Inputs<'a>> {
    let request = Request {
        model,
        flow,
        options,
        compute,
        device: model.device(),
        make,
    };
    Ok(match features::features(&request)? {
        Some(features) => Inputs::Features(flow, features),
        None => Inputs::Images(flow),
    })
}
