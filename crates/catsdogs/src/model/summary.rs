//! `model.summary()`: the table Keras prints, with the same columns, widths, separators and
//! parameter counts, so the notebooks can be read side by side with the tutorial.
//!
//! ```
//! use catsdogs::model::Summary;
//! let rows = vec![("dense_1 (Dense)".to_string(), "(None, 1)".to_string(), 257, 257)];
//! let summary = Summary::new("sequential_1", rows);
//! assert_eq!(summary.total_params(), 257);
//! assert!(summary.to_string().contains("Trainable params: 257\n"));
//! ```

use std::fmt;

/// Keras's line length and column ends for sequential-like models.
const LINE_LENGTH: usize = 65;
const COLUMN_ENDS: [usize; 3] = [29, 55, 65];

/// A model's summary: one row per layer (or nested model) and the parameter counts.
///
/// `Display` prints Keras's table. `Debug` prints the same table, so that a notebook cell
/// ending in `model.summary()` shows it as Keras does.
#[derive(Clone, PartialEq, Eq)]
pub struct Summary {
    name: String,
    rows: Vec<Row>,
}

#[derive(Clone, PartialEq, Eq)]
struct Row {
    layer: String,
    output_shape: String,
    params: i64,
    trainable_params: i64,
}

impl Summary {
    /// A summary of the model `name` with rows of (`"name (Class)"`, output shape in Keras
    /// notation, parameters, trainable parameters among them).
    pub fn new(name: &str, rows: Vec<(String, String, i64, i64)>) -> Self {
        Summary {
            name: name.to_string(),
            rows: rows
                .into_iter()
                .map(|(layer, output_shape, params, trainable_params)| Row {
                    layer,
                    output_shape,
                    params,
                    trainable_params,
                })
                .collect(),
        }
    }

    /// All parameters.
    pub fn total_params(&self) -> i64 {
        self.rows.iter().map(|r| r.params).sum()
    }

    /// Parameters of trainable layers.
    pub fn trainable_params(&self) -> i64 {
        self.rows.iter().map(|r| r.trainable_params).sum()
    }

    /// Parameters of frozen layers.
    pub fn non_trainable_params(&self) -> i64 {
        self.total_params() - self.trainable_params()
    }
}

/// Keras's `print_row`: each field is cut or padded to end at its column, and the character
/// before each later field is a space.
fn row(fields: [&str; 3]) -> String {
    let mut line = String::new();
    for (i, (field, end)) in fields.iter().zip(COLUMN_ENDS).enumerate() {
        if i > 0 {
            line.pop();
            line.push(' ');
        }
        line.push_str(field);
        line = line.chars().take(end).collect();
        let width = line.chars().count();
        line.push_str(&" ".repeat(end - width));
    }
    line
}

/// `1234567` as `1,234,567`, Python's `{:,}`.
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Model: \"{}\"", self.name)?;
        writeln!(f, "{}", "_".repeat(LINE_LENGTH))?;
        writeln!(f, "{}", row(["Layer (type)", "Output Shape", "Param #"]))?;
        writeln!(f, "{}", "=".repeat(LINE_LENGTH))?;
        for (i, r) in self.rows.iter().enumerate() {
            let params = r.params.to_string();
            writeln!(f, "{}", row([&r.layer, &r.output_shape, &params]))?;
            let rule = if i + 1 == self.rows.len() { "=" } else { "_" };
            writeln!(f, "{}", rule.repeat(LINE_LENGTH))?;
        }
        writeln!(f, "Total params: {}", thousands(self.total_params()))?;
        writeln!(
            f,
            "Trainable params: {}",
            thousands(self.trainable_params())
        )?;
        writeln!(
            f,
            "Non-trainable params: {}",
            thousands(self.non_trainable_params())
        )?;
        writeln!(f, "{}", "_".repeat(LINE_LENGTH))
    }
}

impl fmt::Debug for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A sample's shape in Keras's notation: NCHW `[512, 7, 7]` is `(None, 7, 7, 512)`, and
/// `[25088]` is `(None, 25088)`.
pub(crate) fn keras_shape(shape: &[i64]) -> String {
    let mut dims: Vec<i64> = shape.to_vec();
    if dims.len() == 3 {
        dims.rotate_left(1);
    }
    let dims: Vec<String> = dims.iter().map(i64::to_string).collect();
    format!("(None, {})", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_and_padded_like_keras() {
        // Keras prints long names cut at the column: "max_pooling2d_1 (MaxPooling2".
        let line = row(["max_pooling2d_1 (MaxPooling2D)", "(None, 56, 56, 64)", "0"]);
        assert_eq!(
            line,
            "max_pooling2d_1 (MaxPooling2 (None, 56, 56, 64)        0         "
        );
        assert_eq!(line.len(), 65);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(138_357_544), "138,357,544");
    }

    #[test]
    fn shapes_in_keras_notation() {
        assert_eq!(keras_shape(&[512, 7, 7]), "(None, 7, 7, 512)");
        assert_eq!(keras_shape(&[25088]), "(None, 25088)");
    }
}
