//! Several runs' curves in one figure, to compare experiments (frozen against fine-tuned, one
//! backbone against another, early stopping against the full 30 epochs): validation accuracy
//! and validation loss side by side, one colour per run (matplotlib's first ten), each run's
//! validation as a line and its training as dots of the same colour, epochs counted from 1.

use plotters::prelude::*;

use super::curves::{draw_legend, panel_chart, points, value_range};
use super::{blank, figure, Area, DrawError};
use crate::display::Png;
use crate::history::History;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 450;

/// matplotlib's `tab10` colours, the order its lines take.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The runs' accuracy and loss curves overlaid, each named in the legend, as a 1200x450 PNG
/// (an eleventh run takes the first colour again).
///
/// ```
/// use catsdogs::history::{History, Logs};
/// let run = |acc: f64| {
///     let mut history = History::default();
///     for epoch in 0..3 {
///         let a = acc + 0.01 * epoch as f64;
///         history.push(epoch, &Logs::from([("acc".into(), a), ("val_acc".into(), a), ("loss".into(), 1.0 - a), ("val_loss".into(), 1.0 - a)]), 1.0);
///     }
///     history
/// };
/// let (frozen, finetune) = (run(0.9), run(0.95));
/// let png = catsdogs::plot::compare(&[("frozen", &frozen), ("finetune", &finetune)]);
/// assert_eq!(png.dimensions(), (1200, 450));
/// assert_eq!(png.figure_kind().as_deref(), Some("compare-runs"));
/// ```
pub fn compare(runs: &[(&str, &History)]) -> Png {
    let epochs = runs.iter().map(|(_, h)| h.len()).max().unwrap_or(0);
    figure(blank(WIDTH, HEIGHT), "compare-runs", |root| {
        let halves = root.split_evenly((1, 2));
        let panels = [("Accuracy", "acc", "val_acc"), ("Loss", "loss", "val_loss")];
        for (area, (metric, train, validation)) in halves.iter().zip(panels) {
            draw_panel(area, runs, epochs, metric, train, validation)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &Area,
    runs: &[(&str, &History)],
    epochs: usize,
    metric: &str,
    train: &str,
    validation: &str,
) -> Result<(), DrawError> {
    let values = runs
        .iter()
        .flat_map(|(_, h)| h.metric(train).iter().chain(h.metric(validation)).copied());
    let caption = format!("Validation {} (training as dots)", metric.to_lowercase());
    let mut chart = panel_chart(area, &caption, metric, epochs, value_range(values))?;
    for (i, (name, history)) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart.draw_series(
            points(history.metric(train)).map(|p| Circle::new(p, 3, color.filled())),
        )?;
        chart
            .draw_series(LineSeries::new(
                points(history.metric(validation)),
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}
