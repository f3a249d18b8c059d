//! Keras's `CSVLogger(filename, separator, append)`, as tf_keras 2.21 writes it:
//!
//! - columns `epoch` (from 0), then the keys of the first epoch's logs, sorted (`acc`, `loss`,
//!   `lr` if a learning-rate callback before it logs it, `val_acc`, `val_loss`); a key missing
//!   from a later epoch's logs is written `NA`;
//! - Python's csv module's `excel` dialect with the given separator: lines end in `\r\n`, a
//!   field that holds the separator, a quote or a line break is quoted; numbers as Python's
//!   `repr` writes them (`0.6931471805599453`, `1e-05`);
//! - `append`: the rows go after what the file holds, with a header only if it is empty or
//!   absent; otherwise the file is started anew, with a header.
//!
//! The file is rewritten whole after every epoch, atomically, so that it is never half written.
//! Where Keras overwrites any file, this one starts anew only a file that is empty or a CSV log
//! (its first line starts with `epoch` and the separator); any other file is refused before the
//! first epoch and left as it was. Its state (the text written and the columns) goes into
//! checkpoints, so that a resumed run's file equals an uninterrupted run's.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pyformat::repr;
use super::{parse_state, Callback, Fit};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::history::Logs;

const NAME: &str = "CSVLogger";

/// The largest file it appends to: a CSV log of thousands of epochs is far smaller.
const MAX_BYTES: u64 = 64 << 20;

/// Writes each epoch's logs as a row of a CSV file; see the module's notes for Keras's format.
///
/// ```
/// use catsdogs::train::callbacks::{CSVLogger, Callback};
/// let logger = CSVLogger::new("runs/frozen/training.csv").separator(';').append(true);
/// assert_eq!(logger.config(), "CSVLogger(filename=runs/frozen/training.csv, separator=;, append=true)");
/// ```
#[derive(Debug)]
pub struct CSVLogger {
    filename: PathBuf,
    separator: char,
    append: bool,
    keys: Option<Vec<String>>,
    text: String,
    append_header: bool,
    header_written: bool,
}

/// What a checkpoint keeps of it.
#[derive(Serialize, Deserialize)]
struct State {
    text: String,
    keys: Option<Vec<String>>,
    header_written: bool,
}

impl CSVLogger {
    /// `CSVLogger(filename)` with Keras's defaults: `separator=','`, `append=False`.
    pub fn new(filename: impl Into<PathBuf>) -> Self {
        CSVLogger {
            filename: filename.into(),
            separator: ',',
            append: false,
            keys: None,
            text: String::new(),
            append_header: true,
            header_written: false,
        }
    }

    /// The character between fields.
    pub fn separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Appends to the file if it exists, instead of starting it anew.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// A field as the csv module's minimal quoting writes it.
    fn field(&self, text: &str) -> String {
        let special = |c: char| c == self.separator || c == '"' || c == '\r' || c == '\n';
        if text.contains(special) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }

    fn line(&self, fields: impl IntoIterator<Item = String>) -> String {
        let fields: Vec<String> = fields.into_iter().map(|f| self.field(&f)).collect();
        format!("{}\r\n", fields.join(&self.separator.to_string()))
    }

    /// What the file holds now, if it exists (read only after its size is checked).
    fn existing(&self) -> Result<Option<String>> {
        let path = &self.filename;
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(None);
        };
        let refuse = |why: String| Error::Callback {
            callback: NAME,
            why: format!("{} {why}", path.display()),
        };
        if meta.is_dir() {
            return Err(refuse("is a folder: give a file name".to_string()));
        }
        if meta.len() > MAX_BYTES {
            return Err(refuse(format!(
                "holds {} bytes, more than a CSV log of {MAX_BYTES}, so it is left as it was: give another file name",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|_| {
            refuse("is not a text file, so it is left as it was: give another file name".into())
        })?;
        Ok(Some(text))
    }
}

impl Callback for CSVLogger {
    fn config(&self) -> String {
        format!(
            "{NAME}(filename={}, separator={}, append={})",
            self.filename.display(),
            self.separator,
            self.append
        )
    }

    fn on_train_begin(&mut self, _: &mut Fit) -> Result<()> {
        if matches!(self.separator, '"' | '\r' | '\n') {
            return Err(Error::Callback {
                callback: NAME,
                why: format!(
                    "the separator {:?} would be read as a quote or a line break: give another character, such as ',' or ';'",
                    self.separator
                ),
            });
        }
        let existing = self.existing()?;
        self.header_written = false;
        if self.append {
            let text = existing.unwrap_or_default();
            self.append_header = text.is_empty();
            self.text = text;
        } else {
            let log_start = format!("epoch{}", self.separator);
            if let Some(text) = existing.filter(|t| !t.is_empty() && !t.starts_with(&log_start)) {
                let first = text.lines().next().unwrap_or_default();
                return Err(Error::Callback {
                    callback: NAME,
                    why: format!(
                        "{} exists and is not a CSV log (its first line is {first:?}), so it is left as it was: give another file name, or append",
                        self.filename.display()
                    ),
                });
            }
            self.append_header = true;
            self.text = String::new();
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, epoch: usize, logs: &mut Logs, _: &mut Fit) -> Result<()> {
        let keys = self.keys.get_or_insert_with(|| {
            let mut keys: Vec<String> = logs.keys().cloned().collect();
            if !keys.iter().any(|k| k.starts_with("val_")) {
                let validation: Vec<String> = keys.iter().map(|k| format!("val_{k}")).collect();
                keys.extend(validation);
            }
            keys
        });
        let keys = keys.clone();
        if !self.header_written {
            if self.append_header {
                let header = self.line(std::iter::once("epoch".to_string()).chain(keys.clone()));
                self.text.push_str(&header);
            }
            self.header_written = true;
        }
        let values = keys
            .iter()
            .map(|k| logs.get(k).map_or_else(|| "NA".to_string(), |&v| repr(v)));
        let row = self.line(std::iter::once(epoch.to_string()).chain(values));
        self.text.push_str(&row);
        write_atomic(&self.filename, self.text.as_bytes())
    }

    fn state(&self) -> Option<Value> {
        let state = State {
            text: self.text.clone(),
            keys: self.keys.clone(),
            header_written: self.header_written,
        };
        Some(serde_json::to_value(state).expect("states serialise"))
    }

    fn set_state(&mut self, state: Value) -> Result<()> {
        let state: State = parse_state(NAME, state)?;
        self.text = state.text;
        self.keys = state.keys;
        self.header_written = state.header_written;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{drive, drive_from, tiny_model};
    use super::*;

    fn epoch_logs(epoch: usize) -> Logs {
        let e = epoch as f64;
        Logs::from([
            ("loss".to_string(), 0.5 / (e + 1.0)),
            ("acc".to_string(), 0.25 * e),
            ("val_loss".to_string(), 1e-5 * (e + 1.0)),
            ("val_acc".to_string(), 1.0),
        ])
    }

    const HEADER: &str = "epoch,acc,loss,val_acc,val_loss\r\n";
    const ROWS: [&str; 3] = [
        "0,0.0,0.5,1.0,1e-05\r\n",
        "1,0.25,0.25,1.0,2e-05\r\n",
        "2,0.5,0.16666666666666666,1.0,3.0000000000000004e-05\r\n",
    ];

    #[test]
    fn rows_are_keras_columns_and_python_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        let mut logger = CSVLogger::new(&path);
        let mut model = tiny_model(0.1);
        let epochs: Vec<Logs> = (0..3).map(epoch_logs).collect();
        drive(&mut logger, &mut model, &epochs).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            HEADER.to_string() + &ROWS.concat()
        );
        // Again without append: the log is started anew.
        drive(&mut logger, &mut model, &epochs[..1]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            HEADER.to_string() + ROWS[0]
        );
    }

    #[test]
    fn append_adds_rows_without_a_second_header_and_a_later_key_is_na() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(&path, "earlier\r\n").unwrap();
        let mut logger = CSVLogger::new(&path).append(true).separator(';');
        let mut model = tiny_model(0.1);
        let epochs = [
            Logs::from([("loss".to_string(), 1.0)]),
            Logs::from([("acc".to_string(), 0.5)]),
        ];
        drive(&mut logger, &mut model, &epochs).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier\r\n0;1.0;NA\r\n1;NA;NA\r\n"
        );
    }

    #[test]
    fn a_resumed_log_equals_the_uninterrupted_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        let epochs: Vec<Logs> = (0..3).map(epoch_logs).collect();
        let mut model = tiny_model(0.1);
        let mut first = CSVLogger::new(&path);
        drive(&mut first, &mut model, &epochs[..2]).unwrap();
        // The interrupted run had written a row of epoch 3 too, after its last checkpoint.
        let mut third = first.text.clone();
        third.push_str(ROWS[2]);
        std::fs::write(&path, third).unwrap();
        let mut resumed = CSVLogger::new(&path);
        drive_from(&mut resumed, &mut model, 2, &epochs[2..], Some(&first)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            HEADER.to_string() + &ROWS.concat()
        );
    }

    #[test]
    fn a_file_that_is_not_a_log_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.csv");
        std::fs::write(&path, "name,value\n").unwrap();
        let mut model = tiny_model(0.1);
        let error = drive(&mut CSVLogger::new(&path), &mut model, &[])
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            format!("CSVLogger: {} exists and is not a CSV log (its first line is \"name,value\"), so it is left as it was: give another file name, or append", path.display())
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "name,value\n");
    }
}
