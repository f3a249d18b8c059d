//! Figures, the counterpart of the tutorial's matplotlib plots: accuracy and loss curves after
//! each training run (and several runs' curves overlaid, [`compare`]; and while a run trains,
//! [`LiveCurves`]), grids of images with captions, and a confusion matrix.
//!
//! Each function draws with plotters into memory and returns a [`Png`], which a notebook shows
//! inline and the CLI saves. Text is drawn with DejaVu Sans, matplotlib's default font, embedded
//! in the binary (crate `dejavu`), so no system font library is needed, glyph by glyph where the
//! font puts them ([`canvas`]). Each PNG names its kind in
//! a `tEXt` chunk ([`Png::figure_kind`]), so a notebook check can tell the figures apart.
//!
//! ```
//! use catsdogs::history::{History, Logs};
//! let mut history = History::default();
//! for (epoch, (acc, val_acc)) in [(0.80, 0.90), (0.90, 0.93)].into_iter().enumerate() {
//!     let logs = Logs::from([("loss".into(), 1.0 - acc), ("acc".into(), acc), ("val_loss".into(), 1.0 - val_acc), ("val_acc".into(), val_acc)]);
//!     history.push(epoch, &logs, 9.0);
//! }
//! let png = catsdogs::plot::history_curves(&history, "Frozen VGG16 base");
//! assert_eq!(png.dimensions(), (1200, 450));
//! assert_eq!(png.figure_kind().as_deref(), Some("history-curves"));
//! ```

mod canvas;
mod compare;
mod confusion;
mod curves;
mod grid;
mod heatmap;
mod interpretation;
mod live;

pub use compare::compare;
pub use confusion::confusion_matrix;
pub use curves::{history_curves, PlotHistory};
pub(crate) use grid::grid_figure;
pub use grid::{augmentations, check_augmentations, flow_images, image_grid, MAX_AUGMENTATIONS};
pub use heatmap::{overlay, Colormap};
pub use interpretation::{Interpretation, MAX_TOP_LOSSES};
pub use live::LiveCurves;

/// A batch of images (N, H, W, 3) u8, as the image cache gives them, as `RgbImage`s.
fn rgb_images(batch: &tch::Tensor) -> crate::Result<Vec<RgbImage>> {
    let size = batch.size();
    let (n, h, w) = (size[0], size[1] as u32, size[2] as u32);
    (0..n)
        .map(|i| {
            let pixels: Vec<u8> = Vec::try_from(batch.f_get(i)?.f_flatten(0, -1)?)?;
            RgbImage::from_raw(w, h, pixels).ok_or_else(|| crate::Error::Invalid {
                path: "image cache".into(),
                why: "an image has the wrong number of pixels; delete the folder's .catsdogs-cache"
                    .into(),
            })
        })
        .collect()
}

use std::sync::Once;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::display::Png;
use canvas::Canvas;

/// The drawing area of a figure in memory.
type Area<'a> = DrawingArea<Canvas<'a>, Shift>;

/// Why drawing on an [`Area`] failed.
type DrawError = DrawingAreaErrorKind<<Canvas<'static> as DrawingBackend>::ErrorType>;

/// The font family every figure uses: DejaVu Sans, registered once.
const FONT: FontFamily<'static> = FontFamily::SansSerif;

/// Registers DejaVu Sans (regular and bold) as plotters' sans-serif family, which plotters
/// measures text with ([`Canvas`] draws it).
fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            let registered = plotters::style::register_font(FONT.as_str(), style, bytes);
            assert!(registered.is_ok(), "the embedded DejaVu Sans font parses");
        }
    });
}

/// A text style of the figures' font.
fn text(size: f64) -> TextStyle<'static> {
    font(size, FontStyle::Normal)
}

/// A bold text style of the figures' font, for titles.
fn bold(size: f64) -> TextStyle<'static> {
    font(size, FontStyle::Bold)
}

/// A style of the figures' font. plotters looks the font up when the style is made, so the
/// font is registered first.
fn font(size: f64, style: FontStyle) -> TextStyle<'static> {
    register_fonts();
    FontDesc::new(FONT, size, style).into()
}

/// Width and height in pixels of `text` in `style`.
fn text_size(text: &str, style: &TextStyle) -> (u32, u32) {
    let size = style.font.box_size(text);
    size.unwrap_or_else(|e| panic!("the figures' font is registered: {e}"))
}

/// Draws on `image` with `draw` and encodes the result as a figure of `kind`.
///
/// Drawing into memory with the embedded font has no way to fail, and every figure is at least
/// one pixel in each direction; a failure here is a bug in this module, hence the panics.
fn figure(
    mut image: RgbImage,
    kind: &str,
    draw: impl FnOnce(&Area) -> Result<(), DrawError>,
) -> Png {
    register_fonts();
    let size = image.dimensions();
    {
        let root = Canvas(BitMapBackend::with_buffer(&mut image, size)).into_drawing_area();
        draw(&root).unwrap_or_else(|e| panic!("drawing the {kind} figure: {e}"));
        root.present()
            .unwrap_or_else(|e| panic!("drawing the {kind} figure: {e}"));
    }
    Png::figure(&image, kind).unwrap_or_else(|e| panic!("encoding the {kind} figure: {e}"))
}

/// A probability for a caption, with enough digits to tell a small one from zero and a large
/// one from one: two decimals between 0.01 and 0.99 (`0.46`), two significant digits of `p` or
/// of `1 - p` beyond them (`0.0042`, `0.99961`), in scientific notation under 1e-4 (`3.1e-7`,
/// `1 - 4.0e-7`).
pub(crate) fn probability(p: f64) -> String {
    let digits = |small: f64| (1.0 - small.log10().floor()) as usize;
    match p {
        p if !(p > 0.0 && p < 1.0) || (0.01..=0.99).contains(&p) => format!("{p:.2}"),
        p if p < 1e-4 => format!("{p:.1e}"),
        p if p < 0.01 => format!("{p:.*}", digits(p)),
        p if 1.0 - p < 1e-4 => format!("1 - {:.1e}", 1.0 - p),
        p => format!("{p:.*}", digits(1.0 - p)),
    }
}

/// A white canvas.
fn blank(width: u32, height: u32) -> RgbImage {
    RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]))
}

#[cfg(test)]
mod tests {
    use super::probability;

    #[test]
    fn probabilities_keep_small_apart_from_zero_and_large_from_one() {
        let shown = [
            0.0, 0.4567, 0.01, 0.0042, 0.000314, 3.14e-7, 0.995, 0.99961, 0.9999996, 1.0,
        ]
        .map(probability);
        let expected = [
            "0.00", "0.46", "0.01", "0.0042", "0.00031", "3.1e-7", "0.9950", "0.99961",
        ];
        assert_eq!(shown[..8], expected);
        assert_eq!(shown[8..], ["1 - 4.0e-7", "1.00"]);
    }
}
