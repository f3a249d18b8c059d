//! Runs side by side, as `catsdogs runs` prints them and notebook 05 shows them: each run folder
//! (one that holds a `history.json`, written by `catsdogs train` or a notebook) read back with
//! its `run.json` and `test_metrics.json` where it has them, one row per run: experiment,
//! backbone, precision, epochs run, best epoch, best `val_acc`, test accuracy and wall time.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{RunConfig, RUN_FILE};
use crate::display::Table;
use crate::error::{Error, Result};
use crate::history::History;

/// The largest JSON file of a run that is read: a History of thousands of epochs is far
/// smaller.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// One run folder, read back.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The folder's name, e.g. `frozen`.
    pub run: String,
    /// The folder.
    pub dir: PathBuf,
    /// `frozen` or `finetune`, from `run.json` (none for a notebook's run).
    pub experiment: Option<String>,
    /// The base's network, from `run.json`.
    pub backbone: Option<String>,
    /// How the layers computed, e.g. `bf16`, from `run.json`.
    pub precision: Option<String>,
    /// The epochs in the History.
    pub epochs_run: usize,
    /// The epoch (from 1) of the highest `val_acc`.
    pub best_epoch: Option<usize>,
    /// The highest `val_acc`.
    pub best_val_acc: Option<f64>,
    /// The accuracy on the test folder, from `test_metrics.json`.
    pub test_acc: Option<f64>,
    /// The seconds the epochs took, validation included.
    pub wall_seconds: f64,
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
    /// The History, for [`crate::plot::compare`].
    #[serde(skip)]
    pub history: History,
}

/// A JSON file of a run as text, if it exists (read only after its size is checked).
fn read_json(path: &Path) -> Result<Option<String>> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if meta.len() > MAX_JSON_BYTES {
        return Err(Error::invalid(
            path,
            format!("it holds {} bytes, more than a run's file of {MAX_JSON_BYTES}: it is not one; move it out of the run folder", meta.len()),
        ));
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| Error::read(path, e))
}

impl RunSummary {
    /// The run in `dir`, which holds a `history.json`.
    pub fn read(dir: &Path) -> Result<RunSummary> {
        let history_path = dir.join("history.json");
        let text = read_json(&history_path)?.ok_or_else(|| Error::Missing {
            path: history_path.to_path_buf(),
            hint: "a run folder holds the history.json of its training; give the folder of a run",
        })?;
        let history = History::from_json(&text).map_err(|e| {
            Error::invalid(&history_path, format!("it is not a training history ({e})"))
        })?;
        let config: Option<RunConfig> =
            read_json(&dir.join(RUN_FILE))?.and_then(|text| serde_json::from_str(&text).ok());
        let test_acc = read_json(&dir.join("test_metrics.json"))?
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|metrics| metrics["test_acc"].as_f64());
        let best = history.best("val_acc");
        let name = |value: serde_json::Value| value.as_str().map(str::to_string);
        Ok(RunSummary {
            run: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            dir: dir.to_path_buf(),
            experiment: config
                .as_ref()
                .and_then(|c| name(serde_json::json!(c.experiment))),
            backbone: config
                .as_ref()
                .and_then(|c| c.backbone)
                .and_then(|b| name(serde_json::json!(b))),
            precision: config
                .as_ref()
                .and_then(|c| c.precision.as_ref().map(|(_, compute)| compute.clone())),
            epochs_run: history.len(),
            best_epoch: best.map(|(epoch, _)| epoch + 1),
            best_val_acc: best.map(|(_, acc)| acc),
            test_acc,
            wall_seconds: history.seconds.iter().sum(),
            stopped: history.stopped.clone(),
            history,
        })
    }
}

/// The runs in `dirs`, each a run folder (with a `history.json`) or a folder of run folders
/// (`runs/`), in the order given and by name within a folder. A folder that is neither is an
/// error that says so.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let mut history = catsdogs::History::default();
/// history.push(0, &catsdogs::history::Logs::from([("val_acc".into(), 0.9)]), 2.0);
/// history.save(dir.path().join("frozen/history.json"))?;
/// let runs = catsdogs::experiments::runs(&[dir.path().to_path_buf()])?;
/// assert_eq!(runs[0].run, "frozen");
/// assert_eq!(runs[0].best_epoch, Some(1));
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn runs(dirs: &[PathBuf]) -> Result<Vec<RunSummary>> {
    let mut found = Vec::new();
    for dir in dirs {
        if dir.join("history.json").is_file() {
            found.push(RunSummary::read(dir)?);
            continue;
        }
        let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
        let mut folders: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("history.json").is_file())
            .collect();
        if folders.is_empty() {
            return Err(Error::Missing {
                path: dir.join("history.json"),
                hint: "it is neither a run folder nor a folder of runs: give runs/ or a run folder such as runs/frozen",
            });
        }
        folders.sort();
        for folder in folders {
            found.push(RunSummary::read(&folder)?);
        }
    }
    Ok(found)
}

/// The runs as a table: run, experiment, backbone, precision, epochs, best epoch, best
/// val_acc, test acc, wall time (`-` where a run does not say).
pub fn runs_table(runs: &[RunSummary]) -> Table {
    let mut table = Table::new([
        "run",
        "experiment",
        "backbone",
        "precision",
        "epochs",
        "best epoch",
        "best val_acc",
        "test acc",
        "wall time",
    ]);
    let text = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_string());
    let number = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    for run in runs {
        table.push_row([
            run.run.clone(),
            text(&run.experiment),
            text(&run.backbone),
            text(&run.precision),
            run.epochs_run.to_string(),
            run.best_epoch
                .map_or_else(|| "-".to_string(), |e| e.to_string()),
            number(run.best_val_acc),
            number(run.test_acc),
            wall_time(run.wall_seconds),
        ]);
    }
    table
}

/// `1h 02m 03s`, `4m 05s`, `12s`.
fn wall_time(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}
