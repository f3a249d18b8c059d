//! Figures, the counterpart of the tutorial's matplotlib plots: accuracy and loss curves after
//! each training run, grids of images with captions, and a confusion matrix.
//!
//! Each function draws with plotters into memory and returns a [`Png`], which a notebook shows
//! inline and the CLI saves. Text is drawn with DejaVu Sans, matplotlib's default font, embedded
//! in the binary (crate `dejavu`), so no system font library is needed. Each PNG names its kind in
//! a `tEXt` chunk ([`Png::figure_kind`]), so a notebook check can tell the figures apart.
//!
//! ```
//! use catsdogs::history::{EpochMetrics, History};
//! let mut history = History::default();
//! for (acc, val_acc) in [(0.80, 0.90), (0.90, 0.93)] {
//!     history.push(EpochMetrics { loss: 1.0 - acc, acc, val_loss: 1.0 - val_acc, val_acc, seconds: 9.0 });
//! }
//! let png = catsdogs::plot::history_curves(&history, "Frozen VGG16 base");
//! assert_eq!(png.dimensions(), (1200, 450));
//! assert_eq!(png.figure_kind().as_deref(), Some("history-curves"));
//! ```

mod confusion;
mod curves;
mod grid;
mod heatmap;
mod interpretation;

pub use confusion::confusion_matrix;
pub use curves::{history_curves, PlotHistory};
pub(crate) use grid::grid_figure;
pub use grid::{augmentations, check_augmentations, flow_images, image_grid, MAX_AUGMENTATIONS};
pub use heatmap::{overlay, Colormap};
pub use interpretation::{Interpretation, MAX_TOP_LOSSES};

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

/// The drawing area of a figure in memory.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Why drawing on an [`Area`] failed.
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// The font family every figure uses: DejaVu Sans, registered once.
const FONT: FontFamily<'static> = FontFamily::SansSerif;

/// Registers DejaVu Sans (regular and bold) as plotters' sans-serif family.
fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        for (style, bytes) in [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ] {
            let font = without_kerning(bytes);
            let registered = plotters::style::register_font(FONT.as_str(), style, font);
            assert!(registered.is_ok(), "the embedded DejaVu Sans font parses");
        }
    });
}

/// A copy of the TrueType font `bytes` whose `kern` table lists no kerning pairs, kept for the
/// rest of the program (plotters holds fonts by `'static` reference; this runs once per style).
///
/// plotters 0.3 places each glyph without its left side bearing, which is harmless on its own
/// but makes kerned pairs such as "Tr" overlap ("Training" reads "Tiaining"); unkerned, the
/// letters are evenly spaced. The table's subtable count (a version-0 `kern` table) is set to 0.
fn without_kerning(bytes: &[u8]) -> &'static [u8] {
    let mut font = bytes.to_vec();
    let be_u32 =
        |at: usize| u32::from_be_bytes([font[at], font[at + 1], font[at + 2], font[at + 3]]);
    let tables = usize::from(u16::from_be_bytes([font[4], font[5]]));
    let kern = (0..tables)
        .map(|i| 12 + 16 * i)
        .find(|&record| &font[record..record + 4] == b"kern")
        .map(|record| be_u32(record + 8) as usize);
    if let Some(table) = kern {
        font[table + 2..table + 4].copy_from_slice(&[0, 0]);
    }
    Box::leak(font.into_boxed_slice())
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
        let root = BitMapBackend::with_buffer(&mut image, size).into_drawing_area();
        draw(&root).unwrap_or_else(|e| panic!("drawing the {kind} figure: {e}"));
        root.present()
            .unwrap_or_else(|e| panic!("drawing the {kind} figure: {e}"));
    }
    Png::figure(&image, kind).unwrap_or_else(|e| panic!("encoding the {kind} figure: {e}"))
}

/// A white canvas.
fn blank(width: u32, height: u32) -> RgbImage {
    RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_not_kerned() {
        // DejaVu Sans kerns "T" and "r" by about -0.07 em; here "Tr" is exactly "T" then "r".
        let style = text(1000.0);
        let width = |s| text_size(s, &style).0 as i64;
        assert!((width("Tr") - width("T") - width("r")).abs() <= 1);
    }
}
