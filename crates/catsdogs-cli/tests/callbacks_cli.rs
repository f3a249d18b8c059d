//! `catsdogs train` with Keras's callbacks from its flags, `evaluate --json` and `runs`, on a
//! tiny synthetic sample at 32x32 with a random base; each bad argument refused in one sentence
//! before the first epoch, leaving no run behind.

mod cli;

use cli::{path, train_args};

#[test]
fn callbacks_from_flags_stop_log_and_save_and_runs_lists_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = cli::sample_split(dir.path(), 30, [40, 10, 10]);
    let run = dir.path().join("runs/frozen");
    let (csv, logs) = (run.join("log.csv"), dir.path().join("runs/logs"));
    let mut args = train_args(&data, &run);
    let epochs = args.iter().position(|a| *a == "--epochs").unwrap() + 1;
    args[epochs] = "5";
    // Precision fp32 wherever the tests run, for the table's column.
    args.extend(["--precision", "fp32"]);
    // A min_delta of 10 makes only the first epoch an improvement: the second stops.
    args.extend([
        "--early-stopping",
        "val_loss",
        "--min-delta",
        "10",
        "--patience",
        "1",
        "--restore-best-weights",
        "--reduce-lr-on-plateau",
        "val_loss",
        "--lr-patience",
        "1",
        "--lr-factor",
        "0.5",
        "--save-best",
        "val_acc",
        "--csv-log",
        path(&csv),
        "--tensorboard",
        path(&logs),
    ]);
    let out = cli::ok(&cli::catsdogs(&args));
    assert!(
        out.contains("Epoch 2/5\n") && !out.contains("Epoch 3/5"),
        "{out}"
    );
    assert!(
        out.contains("Restoring model weights from the end of the best epoch: 1."),
        "{out}"
    );
    assert!(
        out.contains(
            "; stopped early: EarlyStopping: val_loss did not improve for 1 epoch(s) after epoch 1"
        ),
        "{out}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert!(config["stopped"]
        .as_str()
        .unwrap()
        .starts_with("EarlyStopping: "));
    let best_epoch = config["best_epoch"].as_u64().unwrap();
    assert!(best_epoch == 1 || best_epoch == 2, "{config}");
    let callbacks: Vec<&str> = config["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().split('(').next().unwrap())
        .collect();
    assert_eq!(
        callbacks,
        [
            "ReduceLROnPlateau",
            "EarlyStopping",
            "ModelCheckpoint",
            "CSVLogger",
            "TensorBoard"
        ]
    );
    assert!(run.join("best.safetensors").is_file());
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv_text.starts_with("epoch,acc,loss,lr,val_acc,val_loss\r\n0,"),
        "{csv_text}"
    );
    assert_eq!(csv_text.lines().count(), 3);
    for split in ["train", "validation"] {
        let files = std::fs::read_dir(logs.join(split)).unwrap().count();
        assert_eq!(files, 1, "{split}");
    }

    // evaluate --json: the test metrics at full precision, as test_metrics.json has them.
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test_metrics.json")).unwrap())
            .unwrap();
    let evaluated = cli::ok(&cli::catsdogs(&[
        "evaluate",
        path(&run),
        "--data",
        path(&data),
        "--precision",
        "fp32",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(evaluated.lines().last().unwrap()).unwrap();
    assert_eq!(json["loss"], metrics["test_loss"]);
    assert_eq!(json["acc"], metrics["test_acc"]);

    // runs: the folder of runs as a table, and as JSON.
    let runs_dir = dir.path().join("runs");
    let table = cli::ok(&cli::catsdogs(&["runs", path(&runs_dir)]));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("run     experiment  backbone  precision  epochs  best epoch  best val_acc  test acc  wall time"), "{table}");
    lines.next();
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..3], ["frozen", "frozen", "vgg16"], "{table}");
    assert!(row[3].starts_with("fp32"), "{table}");
    assert_eq!(row[4], "2", "{table}");
    assert_eq!(row[5], best_epoch.to_string());
    let test_acc = format!("{:.4}", metrics["test_acc"].as_f64().unwrap());
    assert_eq!(row[7], test_acc);
    let json = cli::ok(&cli::catsdogs(&["runs", path(&run), "--json"]));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["run"], "frozen");
    assert_eq!(json[0]["epochs_run"], 2);
    assert_eq!(json[0]["best_epoch"], best_epoch);
    assert_eq!(json[0]["test_acc"], metrics["test_acc"]);
    assert!(json[0]["stopped"]
        .as_str()
        .unwrap()
        .starts_with("EarlyStopping"));

    let refused = cli::refused(&cli::catsdogs(&["runs", path(&data)]));
    assert!(
        refused.contains("it is neither a run folder nor a folder of runs"),
        "{refused}"
    );
}

#[test]
fn bad_callback_arguments_are_one_sentence_before_the_first_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = cli::sample_split(dir.path(), 10, [12, 4, 4]);
    let run = dir.path().join("run");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--early-stopping", "val_los"],
            "error: EarlyStopping: fit logs no metric \"val_los\", so it cannot be monitored: give one of loss, acc, val_loss, val_acc",
        ),
        (
            &["--reduce-lr-on-plateau", "val_loss", "--lr-factor", "1.5"],
            "error: ReduceLROnPlateau: a factor of 1.5 would not reduce the learning rate: give a factor between 0 and 1, such as 0.1",
        ),
        (
            &["--reduce-lr-on-plateau", "val_loss", "--min-lr", "-1"],
            "error: ReduceLROnPlateau: min_lr -1 is not a learning rate: give 0 or a positive number such as 1e-7",
        ),
        (
            &["--save-best", "accuracy"],
            "error: ModelCheckpoint: fit logs no metric \"accuracy\", so it cannot be monitored: give one of loss, acc, val_loss, val_acc",
        ),
        (
            &["--early-stopping", "val_acc", "--baseline", "nan"],
            "error: EarlyStopping: baseline NaN is not a number it can compare with: give a finite one",
        ),
    ];
    for (flags, sentence) in cases {
        let args = [train_args(&data, &run), flags.to_vec()].concat();
        let out = cli::catsdogs(&args);
        assert_eq!(cli::refused(&out), sentence);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Epoch 1/"));
        assert!(!run.join("run.json").exists(), "{flags:?}");
    }
    // What clap refuses, before anything runs: a negative count, a flag without its callback.
    for (flags, words) in [
        (
            &["--early-stopping", "val_loss", "--patience", "-1"][..],
            "invalid value '-1' for '--patience <N>'",
        ),
        (&["--patience", "3"][..], "--early-stopping <MONITOR>"),
    ] {
        let args = [train_args(&data, &run), flags.to_vec()].concat();
        let out = cli::catsdogs(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
    }
}
