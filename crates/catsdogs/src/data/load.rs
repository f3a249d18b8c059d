//! Keras's `load_img(path, target_size=(224, 224))` and `img_to_array`, pixel for pixel.
//!
//! Keras opens the file with Pillow, converts it to RGB (see [`decode_rgb`]) and, unless it is
//! already at the target size, resizes it with Pillow's NEAREST filter. Pillow picks source
//! column `int(x)` for output column `i`, where `x` starts at `s / 2` (`s = src / dst`) and grows
//! by `s` at each step, *by repeated addition in double precision*. The closed form
//! `floor((i + 0.5) * s)` rounds differently for some columns when the source is 320, 640, 768
//! or 1024 pixels wide, so [`nearest_indices`] accumulates as Pillow does.
//!
//! ```
//! use catsdogs::data::nearest_indices;
//! // 5 pixels to 3: x = 0.83, 2.5, 4.17.
//! assert_eq!(nearest_indices(5, 3), [0, 2, 4]);
//! // 2 pixels to 5 (upscaling): x = 0.2, 0.6, 1.0, 1.4, 1.8.
//! assert_eq!(nearest_indices(2, 5), [0, 0, 1, 1, 1]);
//! ```

use std::path::Path;

use image::RgbImage;
use ndarray::Array3;

use super::decode::decode_rgb;
use crate::error::{Error, Result};

/// Loads an image file as Keras's `load_img(path, target_size=target_size)` does: RGB, resized
/// with Pillow's NEAREST rule to `target_size = (height, width)` unless it already has that size.
///
/// ```no_run
/// let img = catsdogs::data::load_img("data/train/cats/cat.1.jpg".as_ref(), Some((224, 224)))?;
/// assert_eq!(img.dimensions(), (224, 224));
/// # Ok::<(), catsdogs::Error>(())
/// ```
pub fn load_img(path: &Path, target_size: Option<(u32, u32)>) -> Result<RgbImage> {
    if let Some((height, width)) = target_size {
        check_target_size(height, width)?;
    }
    let bytes = super::decode::read_image_file(path)?;
    let image = decode_rgb(&bytes, path)?;
    Ok(match target_size {
        Some((height, width)) if image.dimensions() != (width, height) => {
            let mut out = RgbImage::new(width, height);
            resize_nearest_into(&image, width, height, &mut out);
            out
        }
        _ => image,
    })
}

/// The largest side of a target size: far beyond any use (VGG16 was trained at 224), and a bound
/// on what one decoded image takes (48 MiB).
pub const MAX_TARGET_SIDE: u32 = 4096;

/// Refuses a zero target size, which Pillow would refuse too, and one with a side above
/// [`MAX_TARGET_SIDE`].
pub(crate) fn check_target_size(height: u32, width: u32) -> Result<()> {
    if (1..=MAX_TARGET_SIDE).contains(&height) && (1..=MAX_TARGET_SIDE).contains(&width) {
        return Ok(());
    }
    Err(Error::TargetSize {
        height,
        width,
        max: MAX_TARGET_SIDE,
    })
}

/// The source index that Pillow's NEAREST filter reads for each of `dst` output positions
/// when it resizes `src` positions: `int(x)` with `x = s/2, s/2 + s, ...` accumulated in `f64`.
pub fn nearest_indices(src: u32, dst: u32) -> Vec<u32> {
    let step = f64::from(src) / f64::from(dst);
    let mut x = step * 0.5;
    (0..dst)
        .map(|_| {
            let index = (x as u32).min(src.saturating_sub(1));
            x += step;
            index
        })
        .collect()
}

/// Resizes `src` into `out`, the raw RGB rows of a `width` x `height` image, with Pillow's
/// NEAREST rule. When the sizes are equal this is a copy, as Keras then skips the resize.
pub(crate) fn resize_nearest_into(src: &RgbImage, width: u32, height: u32, out: &mut [u8]) {
    let (src_width, src_height) = src.dimensions();
    if (src_width, src_height) == (width, height) {
        out.copy_from_slice(src.as_raw());
        return;
    }
    let columns = nearest_indices(src_width, width);
    let rows = nearest_indices(src_height, height);
    let src_row_len = src_width as usize * 3;
    for (out_row, &y) in out.chunks_exact_mut(width as usize * 3).zip(&rows) {
        let src_row = &src.as_raw()[y as usize * src_row_len..][..src_row_len];
        for (pixel, &x) in out_row.chunks_exact_mut(3).zip(&columns) {
            pixel.copy_from_slice(&src_row[x as usize * 3..][..3]);
        }
    }
}

/// Keras's `img_to_array`: the pixels as `f32`, shaped (height, width, 3), RGB.
///
/// ```
/// let img = image::RgbImage::from_pixel(2, 1, image::Rgb([1, 2, 3]));
/// let x = catsdogs::data::img_to_array(&img);
/// assert_eq!(x.shape(), [1, 2, 3]);
/// assert_eq!(x[[0, 1, 2]], 3.0);
/// ```
pub fn img_to_array(img: &RgbImage) -> Array3<f32> {
    let (width, height) = img.dimensions();
    let values = img.as_raw().iter().map(|&v| f32::from(v)).collect();
    Array3::from_shape_vec((height as usize, width as usize, 3), values)
        .expect("an RgbImage holds height * width * 3 values")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscaling_by_a_whole_factor_takes_the_centre_pixels() {
        // s = 2: x = 1, 3, 5, 7.
        assert_eq!(nearest_indices(8, 4), [1, 3, 5, 7]);
        // s = 1.5: x = 0.75, 2.25.
        assert_eq!(nearest_indices(3, 2), [0, 2]);
    }

    #[test]
    fn same_size_is_the_identity() {
        assert_eq!(nearest_indices(4, 4), [0, 1, 2, 3]);
    }

    #[test]
    fn one_pixel_fills_everything() {
        assert_eq!(nearest_indices(1, 3), [0, 0, 0]);
    }

    #[test]
    fn accumulation_differs_from_the_closed_form_at_320() {
        // s = 320/224 = 10/7. Output 17: (17 + 0.5) * 10/7 = 25 exactly, so the closed form
        // picks 25, but 17 additions of s onto s/2 land just below (24.999999999999993).
        let columns = nearest_indices(320, 224);
        assert_eq!(columns[17], 24);
        assert_eq!(columns[24], 34); // (24 + 0.5) * 10/7 = 35 exactly
        assert_eq!(columns[18], 26); // 18.5 * 10/7 = 26.43
        assert_eq!(columns[223], 319);
    }

    #[test]
    fn resize_gathers_the_chosen_pixels() {
        let src = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = vec![0; 6]; // 2 x 1 pixels
        resize_nearest_into(&src, 2, 1, &mut out);
        // columns [0, 2] (s = 1.5), row [1] (s = 2: x = 1).
        assert_eq!(out, [0, 1, 7, 2, 1, 7]);
    }

    #[test]
    fn huge_target_sizes_are_refused_before_anything_is_allocated() {
        for (height, width) in [(100_000, 100_000), (u32::MAX, u32::MAX), (224, 4097)] {
            let err = load_img(Path::new("any.jpg"), Some((height, width))).unwrap_err();
            assert!(err.to_string().contains("is too large"), "{err}");
        }
    }

    #[test]
    fn zero_target_size_is_refused() {
        let err = load_img(Path::new("any.jpg"), Some((0, 224))).unwrap_err();
        assert!(
            err.to_string().contains("target size 0x224 is empty"),
            "{err}"
        );
    }
}
