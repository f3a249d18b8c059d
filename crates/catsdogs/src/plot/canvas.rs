//! The figures' drawing surface: plotters' bitmap backend, with text drawn where the font puts
//! each glyph.
//!
//! plotters 0.3 draws text with ab_glyph by putting each glyph's ink at the pen position,
//! without the glyph's left side bearing. Glyphs with a wide bearing for their ink ("i", "l",
//! ".", "1") then sit too far left and leave a gap after them: "Vali dation", "dog. 0. jpg",
//! "0. 00". [`Canvas`] draws text itself, each glyph at its pen position, kerned, where its
//! outline places it; everything else is the bitmap backend's. Text is laid out (anchored,
//! centred) by plotters' own estimate of its size, the sum of the advances and kerning, which is
//! where the glyphs now end.

use ab_glyph::{point, Font, FontRef, ScaleFont};
use plotters::prelude::{BitMapBackend, DrawingBackend, FontStyle};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use std::sync::OnceLock;

/// DejaVu Sans, regular and bold: the figures' one font.
pub(super) fn dejavu(style: FontStyle) -> &'static FontRef<'static> {
    static FONTS: OnceLock<[FontRef<'static>; 2]> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        [dejavu::sans::regular(), dejavu::sans::bold()].map(|bytes| {
            FontRef::try_from_slice(bytes)
                .unwrap_or_else(|e| panic!("the embedded DejaVu Sans font parses: {e}"))
        })
    });
    match style {
        FontStyle::Bold => &fonts[1],
        _ => &fonts[0],
    }
}

/// plotters' bitmap backend, drawing text with [`dejavu`] glyph by glyph.
pub(super) struct Canvas<'a>(pub(super) BitMapBackend<'a>);

type Failure = DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

impl DrawingBackend for Canvas<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Failure> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Failure> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Failure> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Failure> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Failure> {
        self.0.blit_bitmap(pos, size, src)
    }

    /// As plotters' own `draw_text` (the same anchoring and transforms, the baseline half the
    /// size below the top), with each glyph where its outline puts it.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Failure> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        let font = dejavu(style.style()).as_scaled(style.size() as f32);
        let baseline = style.size() as f32 / 2.0;
        let (mut caret, mut previous) = (0.0, None);
        let mut result = Ok(());
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                caret += font.kern(previous, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(font.scale(), point(caret, baseline));
            caret += font.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let x = bounds.min.x as i32 + gx as i32 + dx - min_x;
                let y = bounds.min.y as i32 + gy as i32 + dy - min_y;
                let (x, y) = transform.transform(x, y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if result.is_ok() && x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    let alpha = color.alpha * f64::from(coverage);
                    result = self.0.draw_pixel(
                        (x, y),
                        BackendColor {
                            alpha,
                            rgb: color.rgb,
                        },
                    );
                }
            });
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::{blank, figure, text};
    use super::*;

    /// The columns of `image` (a figure on white) with ink in them.
    fn inked_columns(png: &crate::display::Png) -> Vec<u32> {
        let image = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
        (0..image.width())
            .filter(|&x| (0..image.height()).any(|y| image.get_pixel(x, y).0 != [255, 255, 255]))
            .collect()
    }

    #[test]
    fn a_glyph_is_drawn_after_its_left_side_bearing() {
        // DejaVu's "i" has a bearing of about 0.08 of the size: 8 pixels at size 100, which
        // plotters' own text drawing leaves out (its ink would start at x = 20).
        let font = dejavu(FontStyle::Normal).as_scaled(100.0);
        let bearing = font.h_side_bearing(font.glyph_id('i'));
        assert!(bearing > 7.0);
        let png = figure(blank(120, 120), "test", |root| {
            root.draw_text("i", &text(100.0), (20, 0))
        });
        let first = inked_columns(&png)[0] as f32;
        assert!(
            (first - (20.0 + bearing)).abs() <= 1.0,
            "ink starts at {first}"
        );
    }

    #[test]
    fn text_is_kerned_as_plotters_measures_it() {
        // DejaVu Sans kerns "T" and "r" by about -0.07 em.
        let style = text(100.0);
        let width = |s| super::super::text_size(s, &style).0 as i32;
        assert!(width("Tr") < width("T") + width("r") - 3);
        // Drawn, "Tr" ends where its measure says, give or take the last glyph's bearing.
        let png = figure(blank(200, 120), "test", |root| {
            root.draw_text("Tr", &style, (0, 0))
        });
        let font = dejavu(FontStyle::Normal).as_scaled(100.0);
        let r = font.glyph_id('r');
        let right_bearing = font.h_advance(r) - font.glyph_bounds(&r.with_scale(100.0)).max.x;
        let last = *inked_columns(&png).last().unwrap() as f32;
        assert!(
            (last + 1.0 + right_bearing - width("Tr") as f32).abs() <= 2.0,
            "ink ends at {last}"
        );
    }
}
