//! Writing the HDF5 of Keras's files with `hdf5-pure` (pure Rust, no system libhdf5): a tree
//! of groups with their attributes and float32 or int64 datasets, addressed by the
//! `/`-separated paths Keras names them by (`dense/dense/kernel:0` makes the groups `dense` and
//! `dense/dense`), serialized in memory. Strings are written as h5py writes them:
//! variable-length, so that Keras reads them back as it reads its own.

use std::path::Path;

use hdf5_pure::{AttrValue, DatasetBuilder, FileBuilder, FinishedGroup, GroupBuilder};

use super::{Values, Weight};
use crate::error::{fmt_shape, Error, Result};

/// A group to be written: its attributes, datasets and subgroups, in the order given.
#[derive(Default)]
pub(super) struct Group<'a> {
    attrs: Vec<(String, AttrValue)>,
    datasets: Vec<(String, &'a Weight)>,
    groups: Vec<(String, Group<'a>)>,
}

impl<'a> Group<'a> {
    /// The group at `path` below this one, made (with the groups on the way) if needed.
    pub(super) fn group(&mut self, path: &str) -> &mut Group<'a> {
        path.split('/')
            .filter(|name| !name.is_empty())
            .fold(self, |group, name| {
                let at = match group.groups.iter().position(|(n, _)| n == name) {
                    Some(at) => at,
                    None => {
                        group.groups.push((name.to_string(), Group::default()));
                        group.groups.len() - 1
                    }
                };
                &mut group.groups[at].1
            })
    }

    /// Sets the attribute `name`.
    pub(super) fn attr(&mut self, name: &str, value: AttrValue) -> &mut Self {
        self.attrs.push((name.to_string(), value));
        self
    }

    /// Puts `weight`'s values at `path` below this group.
    pub(super) fn dataset(&mut self, path: &str, weight: &'a Weight) {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.group(parent).datasets.push((name.to_string(), weight));
    }

    /// The HDF5 file of this tree (its root), to be written at `path`; a weight whose values
    /// do not fill its shape is refused by name.
    pub(super) fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let mut builder = FileBuilder::new();
        self.fill(&mut builder, path)?;
        builder
            .finish()
            .map_err(|e| Error::write(path, std::io::Error::other(e)))
    }

    fn fill(&self, into: &mut impl Builder, path: &Path) -> Result<()> {
        for (name, value) in &self.attrs {
            into.attr(name, value.clone());
        }
        for (name, weight) in &self.datasets {
            stage(into.dataset(name), weight, path)?;
        }
        for (name, group) in &self.groups {
            let mut child = into.child(name);
            group.fill(&mut child, path)?;
            into.add(child.finish());
        }
        Ok(())
    }
}

/// What `hdf5-pure`'s file (its root group) and group builders share.
trait Builder {
    fn attr(&mut self, name: &str, value: AttrValue);
    fn dataset(&mut self, name: &str) -> &mut DatasetBuilder;
    fn child(&mut self, name: &str) -> GroupBuilder;
    fn add(&mut self, group: FinishedGroup);
}

/// The two builders' methods are alike but their own: one implementation serves both.
macro_rules! builder {
    ($builder:ty) => {
        impl Builder for $builder {
            fn attr(&mut self, name: &str, value: AttrValue) {
                self.set_attr(name, value);
            }
            fn dataset(&mut self, name: &str) -> &mut DatasetBuilder {
                self.create_dataset(name)
            }
            fn child(&mut self, name: &str) -> GroupBuilder {
                self.create_group(name)
            }
            fn add(&mut self, group: FinishedGroup) {
                self.add_group(group);
            }
        }
    };
}
builder!(FileBuilder);
builder!(GroupBuilder);

/// Gives a dataset builder `weight`'s shape and values.
fn stage(data: &mut DatasetBuilder, weight: &Weight, path: &Path) -> Result<()> {
    let count = weight
        .shape
        .iter()
        .try_fold(1usize, |total, &axis| total.checked_mul(axis));
    if count != Some(weight.values.len()) {
        let shape: Vec<i64> = weight.shape.iter().map(|&d| d as i64).collect();
        return Err(Error::KerasInvalid {
            path: path.to_path_buf(),
            part: format!("weight {}", weight.name),
            why: format!(
                "has shape {} but {} values: give a weight as many values as its shape holds",
                fmt_shape(&shape),
                weight.values.len()
            ),
        });
    }
    let shape: Vec<u64> = weight.shape.iter().map(|&d| d as u64).collect();
    match &weight.values {
        Values::F32(values) => data.with_f32_data(values),
        Values::I64(values) => data.with_i64_data(values),
    };
    data.with_shape(&shape);
    Ok(())
}
