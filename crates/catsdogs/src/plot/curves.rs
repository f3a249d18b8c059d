//! Accuracy and loss curves of a training run, the two plots the tutorial draws after each
//! `fit`: training as blue dots, validation as a blue line, epochs counted from 1.
//!
//! One figure in one file (over 400 lines with the tests that find its points): its panels,
//! axes, ticks and legend.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::canvas::Canvas;
use super::{blank, bold, figure, text, Area, DrawError};
use crate::display::Png;
use crate::history::History;

/// Size of the figure in pixels: two panels side by side.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 450;

/// Radius of a training dot, in pixels. Validation points get small dots on their line, so
/// that a single epoch shows too.
const DOT: i32 = 4;
const SMALL_DOT: u32 = 1;

/// Where a panel puts values: epoch (x) and metric (y) to pixels of the figure.
pub(super) type Axes = Cartesian2d<EpochAxis, RangedCoordf64>;

/// The x axis: epochs, with ticks only on whole epochs.
#[derive(Clone)]
pub(super) struct EpochAxis {
    range: RangedCoordf64,
    ticks: Vec<f64>,
}

impl EpochAxis {
    /// Half an epoch of room (or 5%) on each side of the first and last epoch; ticks on
    /// multiples of a round step, at most about ten, and on the first epoch unless the next
    /// tick would crowd it (closer than three quarters of a step: 1 beside 2).
    fn new(epochs: usize) -> EpochAxis {
        let last = epochs.max(1);
        let pad = (0.05 * (last - 1) as f64).max(0.5);
        let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
            .into_iter()
            .find(|step| last / step <= 10)
            .unwrap_or(last);
        let first = (step == 1 || 4 * (step - 1) >= 3 * step).then_some(1);
        let ticks = first
            .into_iter()
            .chain((step..=last).step_by(step).filter(|&e| e > 1))
            .map(|e| e as f64)
            .collect();
        EpochAxis {
            range: (1.0 - pad..last as f64 + pad).into(),
            ticks,
        }
    }
}

impl Ranged for EpochAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, epoch: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(epoch, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points get ticks and labels; light ones (a finer grid) are not drawn.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.range()
    }
}

impl ValueFormatter<f64> for EpochAxis {
    fn format(epoch: &f64) -> String {
        format!("{epoch:.0}")
    }
}

/// One of the two panels.
struct Panel<'a> {
    caption: &'a str,
    metric: &'a str,
    train: (&'a str, Vec<f64>),
    validation: (&'a str, Vec<f64>),
}

/// The tutorial's two plots side by side, "Training and validation accuracy" and "Training and
/// validation loss", under `title` (none if empty), as a 1200x450 PNG.
///
/// Values that are not finite (a loss that diverged to NaN) are left out. See the
/// [module example](crate::plot).
pub fn history_curves(history: &History, title: &str) -> Png {
    draw(history, title).0
}

/// `history.plot()`: the tutorial's two plots, accuracy and loss, training against validation,
/// as one figure ([`history_curves`] without a title). A trait of the plot module, so that the
/// History itself, which is data, knows nothing of drawing.
///
/// ```
/// use catsdogs::plot::PlotHistory;
/// let png = catsdogs::History::default().plot();
/// assert_eq!(png.figure_kind().as_deref(), Some("history-curves"));
/// ```
pub trait PlotHistory {
    /// The accuracy and loss curves.
    fn plot(&self) -> Png;
}

impl PlotHistory for History {
    fn plot(&self) -> Png {
        history_curves(self, "")
    }
}

/// Draws the figure and returns it with each panel's axes, for the tests to find the points.
fn draw(history: &History, title: &str) -> (Png, Vec<Axes>) {
    let panels = [
        Panel {
            caption: "Training and validation accuracy",
            metric: "Accuracy",
            train: ("Training acc", history.acc().to_vec()),
            validation: ("Validation acc", history.val_acc().to_vec()),
        },
        Panel {
            caption: "Training and validation loss",
            metric: "Loss",
            train: ("Training loss", history.loss().to_vec()),
            validation: ("Validation loss", history.val_loss().to_vec()),
        },
    ];
    let mut axes = Vec::new();
    let png = figure(blank(WIDTH, HEIGHT), "history-curves", |root| {
        let body = if title.is_empty() {
            root.clone()
        } else {
            root.titled(title, bold(22.0))?
        };
        let halves = body.split_evenly((1, 2));
        for (area, panel) in halves.iter().zip(&panels) {
            axes.push(draw_panel(area, panel, history.len())?);
        }
        Ok(())
    });
    (png, axes)
}

/// A panel's chart: `caption` above, epochs 1 to `epochs` across, `metric` from `y` up, with
/// its grid drawn; the panels of [`history_curves`] and [`super::compare`] alike.
pub(super) fn panel_chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    metric: &str,
    epochs: usize,
    y: Range<f64>,
) -> Result<ChartContext<'a, Canvas<'b>, Axes>, DrawError> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, text(18.0))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(EpochAxis::new(epochs), y)?;
    chart
        .configure_mesh()
        .x_desc("Epochs")
        .y_desc(metric)
        .y_label_formatter(&|value| format!("{value:.2}"))
        .label_style(text(14.0))
        .axis_desc_style(text(15.0))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(235, 235, 235))
        .draw()?;
    Ok(chart)
}

/// Draws the legend of the chart's labelled series in the corner `position`.
pub(super) fn draw_legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, Canvas<'b>, Axes>,
    position: SeriesLabelPosition,
) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(text(14.0))
        .background_style(WHITE)
        .border_style(RGBColor(200, 200, 200))
        .draw()
}

fn draw_panel(area: &Area, panel: &Panel, epochs: usize) -> Result<Axes, DrawError> {
    let values = panel.train.1.iter().chain(&panel.validation.1);
    let y = value_range(values.copied());
    let x = EpochAxis::new(epochs).range();
    let legend = best_corner(&panel.train.1, &panel.validation.1, &x, &y);
    let mut chart = panel_chart(area, panel.caption, panel.metric, epochs, y)?;

    let (train_label, train) = &panel.train;
    chart
        .draw_series(points(train).map(|p| Circle::new(p, DOT, BLUE.filled())))?
        .label(*train_label)
        .legend(|(x, y)| Circle::new((x + 10, y), DOT, BLUE.filled()));
    let (validation_label, validation) = &panel.validation;
    chart
        .draw_series(
            LineSeries::new(points(validation), BLUE.stroke_width(2)).point_size(SMALL_DOT),
        )?
        .label(*validation_label)
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    draw_legend(&mut chart, legend)?;
    Ok(chart.as_coord_spec().clone())
}

/// (epoch, value) for each finite value, epochs counted from 1.
pub(super) fn points(values: &[f64]) -> impl Iterator<Item = (f64, f64)> + '_ {
    (1..)
        .zip(values)
        .filter(|(_, v)| v.is_finite())
        .map(|(epoch, &v)| (f64::from(epoch), v))
}

/// The corner of the panel where the legend covers the fewest training points and the fewest
/// points along the validation line, upper right first on a tie, like matplotlib's
/// `loc="best"`.
fn best_corner(
    train: &[f64],
    validation: &[f64],
    x: &Range<f64>,
    y: &Range<f64>,
) -> SeriesLabelPosition {
    // Where the points are, as fractions of the panel's width and height.
    let unit = |(px, py): (f64, f64)| {
        (
            (px - x.start) / (x.end - x.start),
            (py - y.start) / (y.end - y.start),
        )
    };
    let dots = points(train).map(unit);
    let vertices: Vec<(f64, f64)> = points(validation).map(unit).collect();
    let along_line = vertices.windows(2).flat_map(|pair| {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        (0..8).map(move |i| {
            let t = f64::from(i) / 8.0;
            (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
        })
    });
    let all: Vec<(f64, f64)> = dots
        .chain(along_line)
        .chain(vertices.last().copied())
        .collect();
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let covered = |right: bool, upper: bool| {
        all.iter()
            .filter(|&&(u, _)| if right { u > 0.55 } else { u < 0.45 })
            .filter(|&&(_, v)| if upper { v > 0.7 } else { v < 0.3 })
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, right, upper)| covered(right, upper))
        .map_or(SeriesLabelPosition::UpperRight, |(corner, _, _)| corner)
}

/// The y axis: the finite values with 5% of room above and below, as matplotlib does.
pub(super) fn value_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if low > high {
        return 0.0..1.0;
    }
    let pad = if high - low > 1e-9 {
        0.05 * (high - low)
    } else {
        0.05 * low.abs().max(1.0)
    };
    low - pad..high + pad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Logs;
    use image::{Rgb, RgbImage};

    const BLUE_PIXEL: Rgb<u8> = Rgb([0, 0, 255]);

    fn history(acc: &[f64], val_acc: &[f64]) -> History {
        let mut history = History::default();
        for (epoch, (&acc, &val_acc)) in acc.iter().zip(val_acc).enumerate() {
            let logs = Logs::from([
                ("loss".into(), 1.0 - acc),
                ("acc".into(), acc),
                ("val_loss".into(), 1.0 - val_acc),
                ("val_acc".into(), val_acc),
            ]);
            history.push(epoch, &logs, 1.0);
        }
        history
    }

    fn pixels(png: &Png) -> RgbImage {
        image::load_from_memory(png.bytes()).unwrap().to_rgb8()
    }

    fn pixel_at(image: &RgbImage, axes: &Axes, point: (f64, f64)) -> Rgb<u8> {
        let (x, y) = axes.translate(&point);
        *image.get_pixel(x as u32, y as u32)
    }

    #[test]
    fn epochs_have_room_and_whole_ticks() {
        let axis = |epochs| {
            let axis = EpochAxis::new(epochs);
            (axis.range(), axis.ticks)
        };
        assert_eq!(axis(1), (0.5..1.5, vec![1.0]));
        assert_eq!(axis(0), (0.5..1.5, vec![1.0]));
        assert_eq!(axis(3), (0.5..3.5, vec![1.0, 2.0, 3.0]));
        let even = vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0];
        assert_eq!(axis(12).1, even, "no tick on 1, one epoch from 2");
        let (range, ticks) = axis(30);
        assert!((range.start + 0.45).abs() < 1e-12 && (range.end - 31.45).abs() < 1e-12);
        assert_eq!(ticks, vec![1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]);
    }

    #[test]
    fn values_have_five_percent_of_room() {
        let range = value_range([0.5, 0.9, f64::NAN].into_iter());
        assert!((range.start - 0.48).abs() < 1e-12 && (range.end - 0.92).abs() < 1e-12);
        let range = value_range([0.7, 0.7].into_iter());
        assert!((range.start - 0.65).abs() < 1e-12 && (range.end - 0.75).abs() < 1e-12);
        assert_eq!(value_range(std::iter::empty()), 0.0..1.0);
    }

    #[test]
    fn training_dots_and_validation_line_are_blue_where_the_values_are() {
        let acc = [0.50, 0.70, 0.90];
        let val_acc = [0.60, 0.80, 0.85];
        let (png, axes) = draw(&history(&acc, &val_acc), "run");
        let image = pixels(&png);
        assert_eq!(image.dimensions(), (1200, 450));
        assert_eq!(png.figure_kind().as_deref(), Some("history-curves"));
        for (panel, sign) in axes.iter().zip([1.0, -1.0]) {
            let value = |v: f64| if sign > 0.0 { v } else { 1.0 - v };
            for (epoch, (&a, &v)) in (1..).zip(acc.iter().zip(&val_acc)) {
                let epoch = f64::from(epoch);
                assert_eq!(pixel_at(&image, panel, (epoch, value(a))), BLUE_PIXEL);
                assert_eq!(pixel_at(&image, panel, (epoch, value(v))), BLUE_PIXEL);
            }
            // Halfway between two validation points lies the line, not a training dot.
            let middle = (value(val_acc[0]) + value(val_acc[1])) / 2.0;
            assert_eq!(pixel_at(&image, panel, (1.5, middle)), BLUE_PIXEL);
            // Between the training dots there is nothing.
            let white = pixel_at(&image, panel, (1.5, value(0.6) - sign * 0.01));
            assert_eq!(white, Rgb([255, 255, 255]));
        }
        // The accuracy panel is on the left half, the loss panel on the right half.
        assert!(axes[0].translate(&(3.0, 0.9)).0 < 600);
        assert!(axes[1].translate(&(1.0, 0.5)).0 > 600);
    }

    #[test]
    fn the_legend_goes_where_the_data_is_not() {
        let corner = |train: &[f64], validation: &[f64]| {
            let x = EpochAxis::new(train.len()).range();
            let y = value_range(train.iter().chain(validation).copied());
            best_corner(train, validation, &x, &y)
        };
        // Rising accuracy: the lower right is empty.
        assert_eq!(
            corner(&[0.5, 0.7, 0.9], &[0.6, 0.8, 0.9]),
            SeriesLabelPosition::LowerRight
        );
        // Falling loss: the upper right is empty.
        assert_eq!(
            corner(&[0.9, 0.5, 0.1], &[0.8, 0.4, 0.2]),
            SeriesLabelPosition::UpperRight
        );
        // Loss that falls, then rises again on the validation data: the lower left is empty.
        assert_eq!(
            corner(&[0.9, 0.5, 0.1], &[0.9, 0.6, 0.95]),
            SeriesLabelPosition::LowerLeft
        );
    }

    #[test]
    fn the_legend_sits_in_the_lower_right_of_the_accuracy_panel() {
        // Rising accuracy leaves the lower right of the panel empty but for the legend, whose
        // two blue markers (a dot and a short line) are the only blue there.
        let (png, axes) = draw(&history(&[0.5, 0.7, 0.9], &[0.5, 0.7, 0.9]), "");
        let image = pixels(&png);
        let (left, bottom) = axes[0].translate(&(2.2, 0.48));
        let (right, top) = axes[0].translate(&(3.45, 0.65));
        let blue = (left..right)
            .flat_map(|x| (top..bottom).map(move |y| (x as u32, y as u32)))
            .filter(|&(x, y)| *image.get_pixel(x, y) == BLUE_PIXEL)
            .count();
        assert!(
            blue > 40,
            "only {blue} blue pixels where the legend should be"
        );
    }

    #[test]
    fn one_epoch_and_thirty_epochs_put_every_dot_in_place() {
        for epochs in [1, 30] {
            let acc: Vec<f64> = (0..epochs).map(|e| 0.6 + 0.01 * e as f64).collect();
            let (png, axes) = draw(&history(&acc, &acc), "");
            let image = pixels(&png);
            for (epoch, &a) in (1..).zip(&acc) {
                assert_eq!(
                    pixel_at(&image, &axes[0], (f64::from(epoch), a)),
                    BLUE_PIXEL
                );
            }
        }
    }

    #[test]
    fn an_empty_history_and_a_nan_loss_still_draw() {
        let png = history_curves(&History::default(), "nothing yet");
        assert_eq!(png.dimensions(), (1200, 450));
        let mut diverged = history(&[0.5, 0.6], &[0.5, 0.6]);
        diverged.history.get_mut("loss").unwrap()[1] = f64::NAN;
        let (png, axes) = draw(&diverged, "");
        assert_eq!(pixel_at(&pixels(&png), &axes[1], (1.0, 0.5)), BLUE_PIXEL);
    }
}
