//! `model.summary()`: the table Keras prints, with the same columns, widths, separators and
//! parameter counts, so the notebooks can be read side by side with the tutorial. A chain of
//! layers (VGG, a Sequential) gets Keras's three columns; a network with branches (ResNet50,
//! MobileNetV2) the fourth, "Connected to", as Keras 2.2 prints them.
//!
//! [`Model::summary`] makes it for a model: a model that a [`super::Sequential`] started with
//! shows as one row, as Keras shows a nested model; other models start with their input layer.
//!
//! ```
//! use catsdogs::model::Summary;
//! let rows = vec![("dense_1 (Dense)".to_string(), "(None, 1)".to_string(), 257, 257)];
//! let summary = Summary::new("sequential_1", rows);
//! assert_eq!(summary.total_params(), 257);
//! assert!(summary.to_string().contains("Trainable params: 257\n"));
//! ```

use std::fmt;

use super::{Layer, Model};

/// Keras's line length and column ends for sequential-like models.
const LINE_LENGTH: usize = 65;
const COLUMN_ENDS: [usize; 3] = [29, 55, 65];
/// ... and for the others: 98 characters, columns ending at .33, .55, .67 and 1 of them.
const FUNCTIONAL_LINE_LENGTH: usize = 98;
const FUNCTIONAL_COLUMN_ENDS: [usize; 4] = [32, 53, 65, 98];

/// A model's summary: one row per layer (or nested model) and the parameter counts.
///
/// `Display` prints Keras's table. `Debug` prints the same table, so that a notebook cell
/// ending in `model.summary()` shows it as Keras does.
#[derive(Clone, PartialEq, Eq)]
pub struct Summary {
    name: String,
    rows: Vec<Row>,
    functional: bool,
}

/// One row of a summary: a layer (or nested model).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Row {
    layer: String,
    output_shape: String,
    params: i64,
    trainable_params: i64,
    connected_to: Vec<String>,
}

impl Row {
    /// The row of `layer` (`"name (Class)"`) of output shape `output_shape` (Keras notation)
    /// with (parameters, trainable parameters among them).
    pub(crate) fn new(layer: String, output_shape: String, (params, trainable): (i64, i64)) -> Row {
        Row {
            layer,
            output_shape,
            params,
            trainable_params: trainable,
            connected_to: Vec::new(),
        }
    }

    /// The same row with the inputs it takes (`conv1_bn[0][0]`), for the fourth column.
    pub(crate) fn connected_to(self, inputs: Vec<String>) -> Row {
        Row {
            connected_to: inputs,
            ..self
        }
    }
}

impl Summary {
    /// A summary of the model `name` with rows of (`"name (Class)"`, output shape in Keras
    /// notation, parameters, trainable parameters among them).
    pub fn new(name: &str, rows: Vec<(String, String, i64, i64)>) -> Self {
        let rows = rows
            .into_iter()
            .map(|(layer, shape, params, trainable)| Row::new(layer, shape, (params, trainable)))
            .collect();
        Summary::of_rows(name, rows, false)
    }

    /// A summary of `rows`; `functional` prints the "Connected to" column.
    pub(crate) fn of_rows(name: &str, rows: Vec<Row>, functional: bool) -> Self {
        Summary {
            name: name.to_string(),
            rows,
            functional,
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
fn row(fields: &[&str], ends: &[usize]) -> String {
    let mut line = String::new();
    for (i, (field, end)) in fields.iter().zip(ends).enumerate() {
        if i > 0 {
            line.pop();
            line.push(' ');
        }
        line.push_str(field);
        line = line.chars().take(*end).collect();
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
        let header = ["Layer (type)", "Output Shape", "Param #", "Connected to"];
        let (length, ends): (usize, &[usize]) = if self.functional {
            (FUNCTIONAL_LINE_LENGTH, &FUNCTIONAL_COLUMN_ENDS)
        } else {
            (LINE_LENGTH, &COLUMN_ENDS)
        };
        let header = &header[..ends.len()];
        writeln!(f, "Model: \"{}\"", self.name)?;
        writeln!(f, "{}", "_".repeat(length))?;
        writeln!(f, "{}", row(header, ends))?;
        writeln!(f, "{}", "=".repeat(length))?;
        for (i, r) in self.rows.iter().enumerate() {
            let params = r.params.to_string();
            let first = r.connected_to.first().map_or("", String::as_str);
            let fields = [r.layer.as_str(), &r.output_shape, &params, first];
            writeln!(f, "{}", row(&fields[..ends.len()], ends))?;
            for more in r.connected_to.iter().skip(1) {
                writeln!(f, "{}", row(&["", "", "", more], ends))?;
            }
            let rule = if i + 1 == self.rows.len() { "=" } else { "_" };
            writeln!(f, "{}", rule.repeat(length))?;
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

impl Model {
    /// Keras's `model.summary()`: for a [`super::Sequential`], its base as one row
    /// (`vgg16 (Model)`), then the head's layers; for other models the input layer, then every
    /// layer, with the "Connected to" column for networks with branches.
    pub fn summary(&self) -> Summary {
        let shapes = self.output_shapes();
        let base = self.base_len();
        let mut rows = Vec::new();
        if base > 0 {
            let layers = &self.layers[..base];
            rows.push(Row::new(
                format!("{} (Model)", self.base_name()),
                keras_shape(&shapes[base - 1]),
                (
                    layers.iter().map(Layer::count_params).sum(),
                    layers.iter().map(Layer::count_trainable_params).sum(),
                ),
            ));
        } else {
            rows.push(Row::new(
                "input_1 (InputLayer)".to_string(),
                keras_shape(self.input_shape()),
                (0, 0),
            ));
        }
        let chain = self.layers.iter().all(|layer| layer.inputs().is_empty());
        for (i, (layer, shape)) in self.layers.iter().zip(shapes).enumerate().skip(base) {
            let connected = self
                .graph
                .inputs_of(&self.layers, i)
                .iter()
                .map(|name| format!("{name}[0][0]"))
                .collect();
            rows.push(
                Row::new(
                    format!("{} ({})", layer.name(), layer.kind().class_name()),
                    keras_shape(shape),
                    (layer.count_params(), layer.count_trainable_params()),
                )
                .connected_to(connected),
            );
        }
        Summary::of_rows(&self.name, rows, base == 0 && !chain)
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
        let line = row(
            &["max_pooling2d_1 (MaxPooling2D)", "(None, 56, 56, 64)", "0"],
            &COLUMN_ENDS,
        );
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
