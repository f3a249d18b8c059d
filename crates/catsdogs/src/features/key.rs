//! Where a model's frozen, deterministic prefix ends (the cut), and the key of its outputs on a
//! flow's images: equal keys mean equal features.

use sha2::{Digest, Sha256};

use super::store::FORMAT;
use crate::data::DirectoryIterator;
use crate::error::Result;
use crate::hashing::hex;
use crate::model::{LayerKind, Model};

/// The index of the first layer that must run at every training step: the first trainable
/// layer, or the first `Dropout` if that comes earlier, moved back to the start of its residual
/// block if it is inside one (where the block's shortcut flows too; see
/// [`Model::cut_before`]). Layers before it can be cached; 0 means none can.
pub fn cut(model: &Model) -> usize {
    let layers = model.layers();
    let first_random = layers
        .iter()
        .position(|l| matches!(l.kind(), LayerKind::Dropout(_)))
        .unwrap_or(layers.len());
    let first = model
        .first_trainable()
        .unwrap_or(layers.len())
        .min(first_random);
    model.cut_before(first)
}

/// The cache key of the outputs of layers `0..cut` of `model` on the images of `flow`,
/// computed in `dtype` (e.g. `float32`).
pub fn key(model: &Model, flow: &DirectoryIterator, cut: usize, dtype: &str) -> Result<String> {
    let layer = cut
        .checked_sub(1)
        .and_then(|i| model.layers().get(i))
        .map_or("input", |l| l.name());
    let mut hasher = Sha256::new();
    for part in [
        FORMAT,
        flow.cache_key(),
        &format!("{:?}", flow.preprocessing()),
        &model.parameters_hash(0..cut)?,
        layer,
        dtype,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    Ok(hex(&hasher.finalize()))
}

/// The shape of one sample of the tensor that flows into layer `cut`.
pub(super) fn shape_at(model: &Model, cut: usize) -> Vec<i64> {
    model.shape_into(cut)
}
