//! ImageNet's class index and `decode_predictions`, checked against Keras's own algorithm
//! (`argsort()[-top:][::-1]` over the same JSON) run with numpy.

mod common;

use catsdogs::imagenet::{class_index, decode_predictions, CLASS_INDEX_JSON};
use tch::Tensor;

#[test]
fn the_embedded_class_index_is_keras_file() {
    let md5 = common::run_python(
        "import hashlib, sys\nprint(hashlib.md5(sys.argv[1].encode()).hexdigest())",
        &[CLASS_INDEX_JSON],
    );
    assert_eq!(md5.trim(), "c2c37ea517e94d9795004a39431a14cb");
    let index = class_index();
    assert_eq!(index.len(), 1000);
    assert_eq!(index[281], ("n02123045".into(), "tabby".into()));
    assert_eq!(index[999], ("n15075141".into(), "toilet_tissue".into()));
}

/// Keras's decode_predictions, with the embedded class index, on the same numbers.
const KERAS_DECODE: &str = r#"
import json, sys
import numpy as np
index = json.loads(sys.argv[1])
preds = np.array(json.loads(sys.argv[2]), dtype=np.float32)
top = int(sys.argv[3])
results = []
for pred in preds:
    top_indices = pred.argsort()[-top:][::-1]
    results.append([[int(i), index[str(i)][0], index[str(i)][1], float(pred[i])] for i in top_indices])
print(json.dumps(results))
"#;

#[test]
fn decode_predictions_matches_keras() {
    // Softmax of distinct values: no ties, so numpy's ordering is unambiguous.
    let logits: Vec<f32> = (0..3000)
        .map(|i| ((i * 7919 % 3001) as f32 / 300.0).sin() * 8.0)
        .collect();
    let probs = Tensor::from_slice(&logits)
        .reshape([3, 1000])
        .softmax(1, tch::Kind::Float);
    let values: Vec<f32> = Vec::try_from(probs.flatten(0, -1)).unwrap();
    let rows: Vec<&[f32]> = values.chunks(1000).collect();
    let expected = common::run_python(
        KERAS_DECODE,
        &[
            CLASS_INDEX_JSON,
            &serde_json::to_string(&rows).unwrap(),
            "5",
        ],
    );
    let expected: Vec<Vec<(usize, String, String, f32)>> = serde_json::from_str(&expected).unwrap();
    let found = decode_predictions(&probs, 5).unwrap();
    let found: Vec<Vec<(usize, String, String, f32)>> = found
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|p| (p.index, p.wnid, p.name, p.probability))
                .collect()
        })
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn ties_and_printing() {
    let mut row = vec![0f32; 1000];
    row[3] = 0.25;
    row[7] = 0.25;
    row[500] = 0.5;
    let probs = Tensor::from_slice(&row).reshape([1, 1000]);
    let top = decode_predictions(&probs, 3).unwrap();
    let indices: Vec<usize> = top[0].iter().map(|p| p.index).collect();
    assert_eq!(indices, [500, 7, 3]);
    assert_eq!(
        top[0][0].to_string(),
        "('n03042490', 'cliff_dwelling', 0.5)"
    );
    assert_eq!(
        serde_json::to_string(&top[0][1]).unwrap(),
        r#"{"index":7,"wnid":"n01514668","name":"cock","prob":0.25}"#
    );
    assert_eq!(
        decode_predictions(
            &Tensor::zeros([2, 10], (tch::Kind::Float, tch::Device::Cpu)),
            5
        )
        .unwrap_err()
        .to_string(),
        "decode_predictions expects a batch of predictions of shape (samples, 1000), like \
         VGG16's with its top; found shape [2, 10]"
    );
}
