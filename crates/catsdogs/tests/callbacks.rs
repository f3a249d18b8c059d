//! Keras's callbacks against Python itself, where Keras leaves the work to it: ModelCheckpoint's
//! file names are Python's `str.format` of the pattern with the epoch (from 1) and the logs.
//! (Each callback's rule is tested on made-up logs beside it, in `src/train/callbacks/`; a
//! resumed run with callbacks, the CSV read by Python's csv module and the event files by
//! TensorBoard's reader, in `tests/train.rs`.)

mod common;

use catsdogs::history::Logs;
use catsdogs::train::callbacks::ModelCheckpoint;

/// Prints `pattern.format(epoch=..., **logs)` for each pattern, one per line.
const FORMAT: &str = r#"
import json, sys
logs = json.loads(sys.argv[1])
for pattern in json.loads(sys.argv[2]):
    print(pattern.format(**logs))
"#;

#[test]
fn checkpoint_file_names_are_pythons_format_of_the_pattern() {
    let patterns = [
        "w.{epoch:02d}-{val_loss:.4f}.h5",
        "{epoch}-{loss}-{acc}-{val_acc}",
        "{epoch:03d}_{val_loss:.2e}_{loss:g}_{acc:.3g}",
        "{val_loss:10.3f}|{val_loss:<10.3f}|{val_loss:^10.3f}|{val_loss:+.1%}",
        "{acc:08.3f}|{loss:E}|{loss:.3G}|{val_acc:.2}|{lr}|{lr:.1e}|{{literal}}",
        "{epoch:>4}|{epoch:<4}|{epoch:+d}|{epoch:04}|{epoch:.2f}|{epoch:e}",
    ];
    let cases: [(usize, [f64; 5]); 3] = [
        (0, [0.6875, 0.5, 0.2345678, 0.75, 1e-4]),
        (11, [1e-7, 0.98765, 123456789.0, 1.0, 2.5e-5]),
        (99, [0.125, 0.0, 1.5e16, 0.3333333333333333, 0.001]),
    ];
    for (epoch, [loss, acc, val_loss, val_acc, lr]) in cases {
        let logs = Logs::from([
            ("loss".to_string(), loss),
            ("acc".to_string(), acc),
            ("val_loss".to_string(), val_loss),
            ("val_acc".to_string(), val_acc),
            ("lr".to_string(), lr),
        ]);
        let mut python_logs: serde_json::Value = serde_json::to_value(&logs).unwrap();
        python_logs["epoch"] = serde_json::json!(epoch + 1);
        let expected = common::run_python(
            FORMAT,
            &[
                &python_logs.to_string(),
                &serde_json::to_string(&patterns).unwrap(),
            ],
        );
        let ours: Vec<String> = patterns
            .iter()
            .map(|p| {
                let path = ModelCheckpoint::new(*p).file_path(epoch, &logs).unwrap();
                path.to_str().unwrap().to_string()
            })
            .collect();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(ours, expected, "epoch {epoch}");
    }
}
