//! `catsdogs bench gradcam`: Grad-CAM's time beside the same model's forward pass, as one JSON
//! line; only behaviour is checked here, the numbers belong in BENCHMARKS.md.

mod cli;

#[test]
fn grad_cam_is_timed_beside_the_forward_pass() {
    let out = cli::command()
        .args([
            "bench",
            "gradcam",
            "--iterations",
            "2",
            "--target-size",
            "32x32",
        ])
        .args(["--layer", "block4_conv3", "--device", "cpu"])
        .output()
        .unwrap();
    let stdout = cli::ok(&out);
    let line: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(line["images"], 2);
    assert_eq!(line["batch"], 1);
    assert_eq!(line["layer"], "block4_conv3");
    assert_eq!(
        (line["device"].as_str(), line["compute"].as_str()),
        (Some("cpu"), Some("fp32"))
    );
    for key in ["seconds", "forward_seconds", "grad_cam_over_forward"] {
        assert!(line[key].as_f64().unwrap() > 0.0, "{key}: {line}");
    }
}

#[test]
fn a_layer_that_is_no_convolution_is_refused() {
    let out = cli::catsdogs(&[
        "bench",
        "gradcam",
        "--target-size",
        "32x32",
        "--layer",
        "flatten_1",
    ]);
    let error = cli::refused(&out);
    assert!(
        error.starts_with(
            "error: flatten_1 is not a convolutional layer of sequential_1 (a Flatten layer)"
        ),
        "{error}"
    );
}
