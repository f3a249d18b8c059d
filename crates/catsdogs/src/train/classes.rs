//! The labels a binary model needs: a flow of exactly two class folders, the same two in every
//! folder it is trained, validated and evaluated on.

use std::collections::BTreeMap;

use crate::data::DirectoryIterator;
use crate::error::{Error, Result};

/// Refuses a flow that binary cross-entropy cannot train on: exactly two classes.
pub(super) fn check_classes(flow: &DirectoryIterator, role: &'static str) -> Result<()> {
    let names: Vec<&str> = flow.class_indices.keys().map(String::as_str).collect();
    if names.len() == 2 {
        return Ok(());
    }
    Err(Error::ClassCount {
        role,
        dir: flow.directory.clone(),
        classes: names.into_iter().map(String::from).collect(),
    })
}

/// Class folder name to label, as flows give them.
pub(crate) type Classes = BTreeMap<String, u32>;

fn class_names(classes: &Classes) -> Vec<String> {
    classes.keys().cloned().collect()
}

/// Refuses a flow whose class folders differ from `expected` (those of `what`): label 1 would
/// mean another class.
pub(super) fn same_classes(expected: &Classes, what: &str, flow: &DirectoryIterator) -> Result<()> {
    if *expected == flow.class_indices {
        return Ok(());
    }
    Err(Error::ClassesDiffer {
        dir: flow.directory.clone(),
        classes: class_names(&flow.class_indices),
        what: what.to_string(),
        expected: class_names(expected),
    })
}
