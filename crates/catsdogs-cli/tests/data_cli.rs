//! The data subcommands as outside tools use them: `load-img --npy` checked by NumPy against
//! Keras's arithmetic on Pillow's pixels, `flow` as JSON, `sample` + `split`, and bad input
//! ending with one sentence and exit status 1.

mod cli;
#[path = "../../catsdogs/tests/common/mod.rs"]
mod common;

use std::path::Path;

use cli::{catsdogs, ok};
use common::run_python as python;

#[test]
fn load_img_npy_equals_keras_on_pillow_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("photo.jpg");
    python(
        r#"
import sys, numpy as np
from PIL import Image
y, x = np.mgrid[0:375, 0:500]
a = np.stack([(x * 0.5 + y) % 256, (x * 3) % 256, (y * 2 + 40) % 256], -1).astype(np.uint8)
Image.fromarray(a).save(sys.argv[1], quality=80)
"#,
        &[img.to_str().unwrap()],
    );
    let check = r#"
import sys, numpy as np
from PIL import Image
img, npy, mode = sys.argv[1:4]
x = np.asarray(Image.open(img).convert("RGB").resize((224, 224), Image.NEAREST)).astype(np.float32)
if mode == "vgg16":
    x = x[..., ::-1].copy()
    for c, m in enumerate([103.939, 116.779, 123.68]):
        x[..., c] -= m
got = np.load(npy)
print(got.dtype, got.shape, np.array_equal(got, x))
"#;
    for mode in ["none", "vgg16"] {
        let npy = dir.path().join(format!("{mode}.npy"));
        ok(&catsdogs(&[
            "load-img",
            img.to_str().unwrap(),
            "--target-size",
            "224x224",
            "--preprocess",
            mode,
            "--npy",
            npy.to_str().unwrap(),
        ]));
        let verdict = python(check, &[img.to_str().unwrap(), npy.to_str().unwrap(), mode]);
        assert_eq!(verdict.trim(), "float32 (224, 224, 3) True", "{mode}");
    }
}

#[test]
fn bad_input_ends_with_one_sentence_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not pixels").unwrap();
    let npy = dir.path().join("out.npy");
    let (validation, zip, data) = (
        dir.path().join("validation"),
        dir.path().join("train.zip"),
        dir.path().join("data"),
    );
    // Status 1 for errors of the crate, 2 for clap's usage errors.
    let cases: [(&[&str], i32); 4] = [
        (
            &[
                "load-img",
                text.to_str().unwrap(),
                "--npy",
                npy.to_str().unwrap(),
            ],
            1,
        ),
        (
            &[
                "load-img",
                "a.jpg",
                "--target-size",
                "224",
                "--npy",
                "x.npy",
            ],
            2,
        ),
        (&["flow", validation.to_str().unwrap()], 1),
        (&["split", zip.to_str().unwrap(), data.to_str().unwrap()], 1),
    ];
    for (args, status) in cases {
        let out = catsdogs(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
        if out.status.code() == Some(1) {
            assert!(stderr.starts_with("error: "), "{stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        }
    }
    assert!(!npy.exists());
}

#[test]
fn sample_split_and_flow_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("train.zip");
    let data = dir.path().join("data");
    ok(&catsdogs(&[
        "sample",
        zip.to_str().unwrap(),
        "--per-class",
        "8",
    ]));
    let report = ok(&catsdogs(&[
        "split",
        zip.to_str().unwrap(),
        data.to_str().unwrap(),
        "--train",
        "8",
        "--validation",
        "4",
        "--test",
        "4",
    ]));
    assert!(report.contains("train: 4 cats, 4 dogs"), "{report}");
    assert!(report.contains("synthetic"), "{report}");
    let json: serde_json::Value = serde_json::from_str(&ok(&catsdogs(&[
        "flow",
        data.join("train").to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(
        json["class_indices"],
        serde_json::json!({"cats": 0, "dogs": 1})
    );
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 8);
    assert!(files.iter().all(|f| Path::new(f["file"].as_str().unwrap())
        .starts_with(if f["class"] == 0 { "cats" } else { "dogs" })));
}
