//! The confusion matrix: how many images of each true class were predicted as each class, one
//! row per true class and one column per predicted class, darker blue for more images.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{blank, bold, figure, text, text_size, Area, DrawError};
use crate::display::Png;
use crate::error::{Error, Result};

/// matplotlib's "Blues" colour map at 0, 1/4, 1/2, 3/4 and 1 (from ColorBrewer).
const BLUES: [[u8; 3]; 5] = [
    [247, 251, 255],
    [198, 219, 239],
    [107, 174, 214],
    [33, 113, 181],
    [8, 48, 107],
];

/// Space above the cells (title), below the class names ("predicted") and to the right.
const TOP: u32 = 50;
const BOTTOM: u32 = 44;
const RIGHT: u32 = 30;
/// Gap between the cells and the class names.
const GAP: u32 = 8;
/// Width of the band with the rotated axis label "true" on the left.
const AXIS_LABEL: u32 = 36;
/// Class-name font size.
const NAME_SIZE: f64 = 15.0;

/// The confusion matrix of `predicted` labels against `truth` labels (`0..class_names.len()`),
/// with the count in each cell, class names along the axes, "true" down the left and
/// "predicted" along the bottom.
///
/// ```
/// let names = vec!["cat".to_string(), "dog".to_string()];
/// let png = catsdogs::plot::confusion_matrix(&[0, 0, 1, 1], &[0, 1, 1, 1], &names).unwrap();
/// assert_eq!(png.figure_kind().as_deref(), Some("confusion-matrix"));
/// ```
pub fn confusion_matrix(truth: &[u32], predicted: &[u32], class_names: &[String]) -> Result<Png> {
    let counts = count(truth, predicted, class_names.len())?;
    let layout = Layout::new(class_names);
    let image = blank(layout.width(), layout.height());
    Ok(figure(image, "confusion-matrix", |root| {
        draw(root, &layout, &counts, class_names)
    }))
}

/// `counts[t][p]`: how many images of true class `t` were predicted as `p`.
fn count(truth: &[u32], predicted: &[u32], classes: usize) -> Result<Vec<Vec<u64>>> {
    if truth.len() != predicted.len() {
        return Err(Error::LengthMismatch {
            what: "true and predicted labels",
            left: truth.len(),
            right: predicted.len(),
        });
    }
    let mut counts = vec![vec![0; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        let unknown = [t, p].into_iter().find(|&label| label as usize >= classes);
        if let Some(label) = unknown {
            return Err(Error::UnknownLabel { label, classes });
        }
        counts[t as usize][p as usize] += 1;
    }
    Ok(counts)
}

/// Where the cells are: a square of `classes` x `classes` cells whose top-left corner is at
/// (`left`, `TOP`); the class names under the columns run upwards when they are wider than a
/// cell, and take `names_height` pixels.
struct Layout {
    classes: u32,
    left: u32,
    cell: u32,
    upright_names: bool,
    names_height: u32,
}

impl Layout {
    fn new(class_names: &[String]) -> Layout {
        let classes = class_names.len().max(1) as u32;
        let cell = (360 / classes).clamp(28, 130);
        let (widest, tallest) = class_names
            .iter()
            .map(|name| text_size(name, &text(NAME_SIZE)))
            .fold((0, 0), |(w, h), (nw, nh)| (w.max(nw), h.max(nh)));
        let upright_names = widest + GAP > cell;
        Layout {
            classes,
            left: AXIS_LABEL + widest + 2 * GAP,
            cell,
            upright_names,
            names_height: if upright_names { widest } else { tallest },
        }
    }

    fn width(&self) -> u32 {
        self.left + self.classes * self.cell + RIGHT
    }

    fn height(&self) -> u32 {
        TOP + self.classes * self.cell + GAP + self.names_height + BOTTOM
    }

    /// Top-left pixel of the cell of true class `row` and predicted class `column`.
    fn cell_origin(&self, row: usize, column: usize) -> (i32, i32) {
        let at = |i: usize, start: u32| (start + i as u32 * self.cell) as i32;
        (at(column, self.left), at(row, TOP))
    }
}

fn draw(
    root: &Area,
    layout: &Layout,
    counts: &[Vec<u64>],
    class_names: &[String],
) -> Result<(), DrawError> {
    let cell = layout.cell as i32;
    let grid = (layout.classes * layout.cell) as i32;
    let (left, top) = layout.cell_origin(0, 0);
    let centred = |style: TextStyle<'static>| style.pos(Pos::new(HPos::Center, VPos::Center));

    root.draw_text(
        "Confusion matrix",
        &centred(bold(18.0)),
        (left + grid / 2, TOP as i32 / 2),
    )?;
    let most = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let count_size = (f64::from(layout.cell) / 3.5).min(28.0);
    for (row, row_counts) in counts.iter().enumerate() {
        for (column, &n) in row_counts.iter().enumerate() {
            let (x, y) = layout.cell_origin(row, column);
            let share = n as f64 / most as f64;
            let fill = blues(share);
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                fill.filled(),
            ))?;
            let ink = if share > 0.5 { &WHITE } else { &BLACK };
            let style = centred(text(count_size)).color(ink);
            root.draw_text(&n.to_string(), &style, (x + cell / 2, y + cell / 2))?;
        }
    }
    let frame = [(left, top), (left + grid, top + grid)];
    root.draw(&Rectangle::new(frame, BLACK.stroke_width(1)))?;

    let names_top = top + grid + GAP as i32;
    for (i, name) in class_names.iter().enumerate() {
        let (x, y) = layout.cell_origin(i, i);
        let right = Pos::new(HPos::Right, VPos::Center);
        root.draw_text(
            name,
            &text(NAME_SIZE).pos(right),
            (left - GAP as i32, y + cell / 2),
        )?;
        let under_column = if layout.upright_names {
            // Rotated a quarter turn, "right-aligned" means ending at the top, under the cells.
            text(NAME_SIZE)
                .pos(right)
                .transform(FontTransform::Rotate270)
        } else {
            text(NAME_SIZE).pos(Pos::new(HPos::Center, VPos::Top))
        };
        root.draw_text(name, &under_column, (x + cell / 2, names_top))?;
    }
    let label = centred(bold(16.0));
    let predicted_y = names_top + (layout.names_height + BOTTOM / 2) as i32;
    root.draw_text("predicted", &label, (left + grid / 2, predicted_y))?;
    let upwards = label.transform(FontTransform::Rotate270);
    root.draw_text("true", &upwards, (AXIS_LABEL as i32 / 2, top + grid / 2))?;
    Ok(())
}

/// The colour for a cell holding `share` (0 to 1) of the largest count.
fn blues(share: f64) -> RGBColor {
    let position = share.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let low = (position.floor() as usize).min(BLUES.len() - 2);
    let t = position - low as f64;
    let mix = |c: usize| {
        let (a, b) = (f64::from(BLUES[low][c]), f64::from(BLUES[low + 1][c]));
        (a + (b - a) * t).round() as u8
    };
    RGBColor(mix(0), mix(1), mix(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn names() -> Vec<String> {
        vec!["cat".to_string(), "dog".to_string()]
    }

    #[test]
    fn counts_rows_are_truth_and_columns_predictions() {
        let counts = count(&[0, 0, 0, 1, 1], &[0, 0, 1, 1, 1], 2).unwrap();
        assert_eq!(counts, vec![vec![2, 1], vec![0, 2]]);
    }

    #[test]
    fn cells_are_coloured_by_count() {
        // cat->cat 4, cat->dog 2, dog->cat 0, dog->dog 1: shares 1, 1/2, 0, 1/4.
        let truth = [0, 0, 0, 0, 0, 0, 1];
        let predicted = [0, 0, 0, 0, 1, 1, 1];
        let png = confusion_matrix(&truth, &predicted, &names()).unwrap();
        assert_eq!(png.figure_kind().as_deref(), Some("confusion-matrix"));
        let image = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
        let layout = Layout::new(&names());
        assert_eq!(image.dimensions(), (layout.width(), layout.height()));
        let corner = |row, column| {
            let (x, y) = layout.cell_origin(row, column);
            *image.get_pixel(x as u32 + 4, y as u32 + 4)
        };
        assert_eq!(corner(0, 0), Rgb(BLUES[4]));
        assert_eq!(corner(0, 1), Rgb(BLUES[2]));
        assert_eq!(corner(1, 0), Rgb(BLUES[0]));
        assert_eq!(corner(1, 1), Rgb(BLUES[1]));
        // The counts are written in the cells: white on dark, black on light.
        let ink = |row, column, colour: Rgb<u8>| {
            let (x, y) = layout.cell_origin(row, column);
            let c = layout.cell as i32;
            (x + c / 4..x + 3 * c / 4)
                .flat_map(|x| (y + c / 4..y + 3 * c / 4).map(move |y| (x as u32, y as u32)))
                .filter(|&(x, y)| *image.get_pixel(x, y) == colour)
                .count()
        };
        assert!(ink(0, 0, Rgb([255, 255, 255])) > 20);
        assert!(ink(1, 0, Rgb([0, 0, 0])) > 20);
    }

    #[test]
    fn colour_map_interpolates_between_blues() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(0.125), RGBColor(223, 235, 247));
    }

    #[test]
    fn bad_labels_are_errors() {
        let err = confusion_matrix(&[0, 2], &[0, 1], &names()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "label 2 has no class name: there are 2 class names, for the labels below 2; pass one name per class"
        );
        let err = confusion_matrix(&[0], &[0, 1], &names()).unwrap_err();
        assert!(matches!(
            err,
            Error::LengthMismatch {
                left: 1,
                right: 2,
                ..
            }
        ));
    }

    #[test]
    fn no_labels_draw_an_empty_matrix() {
        let png = confusion_matrix(&[], &[], &names()).unwrap();
        let image = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
        let (x, y) = Layout::new(&names()).cell_origin(1, 1);
        assert_eq!(*image.get_pixel(x as u32 + 4, y as u32 + 4), Rgb(BLUES[0]));
    }
}
