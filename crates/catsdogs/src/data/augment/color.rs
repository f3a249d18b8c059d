//! The colour part of `apply_transform`: Keras's channel shift and brightness shift, on the
//! values that the geometric part wrote.
//!
//! - Channel shift (`apply_channel_shift`): every value plus the intensity, clipped to the
//!   image's own minimum and maximum (over all channels, before the shift).
//! - Brightness (`apply_brightness_shift(x, brightness, scale=False)`): Keras makes a Pillow
//!   image of the values (`array_to_img`: `float32`, then `astype('uint8')`, which truncates;
//!   values below 0 or above 255 are first scaled to 0-255 by the image's minimum and maximum,
//!   and scaled back afterwards), and Pillow's `ImageEnhance.Brightness` blends it with black:
//!   `uint8(factor * v)` in single precision, truncated, clipped to 0-255 when the factor is
//!   outside [0, 1].

/// The smallest and largest of `values` (`(inf, -inf)` for none).
fn min_max(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Keras's `apply_channel_shift` on the whole image, in place.
pub(crate) fn channel_shift(values: &mut [f32], intensity: f64) {
    let (lo, hi) = min_max(values);
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    for v in values {
        *v = (f64::from(*v) + intensity).max(lo).min(hi) as f32;
    }
}

/// Pillow's `Image.blend(black, image, factor)` on one 8-bit value.
fn blend_with_black(v: u8, factor: f32) -> u8 {
    let scaled = factor * f32::from(v);
    if (0.0..=1.0).contains(&factor) {
        scaled as u8
    } else if scaled <= 0.0 {
        0
    } else if scaled >= 255.0 {
        255
    } else {
        scaled as u8
    }
}

/// Keras's `apply_brightness_shift(x, brightness, scale=False)`, in place.
pub(crate) fn brightness(values: &mut [f32], factor: f64) {
    let factor = factor as f32;
    let (lo, hi) = min_max(values);
    if lo < 0.0 || hi > 255.0 {
        // array_to_img(scale=True): (x - min) / max(x - min) * 255, and back afterwards.
        let range = hi - lo;
        for v in values {
            let mut y = *v - lo;
            if range != 0.0 {
                y /= range;
            }
            let bright = f32::from(blend_with_black((y * 255.0) as u8, factor));
            *v = bright / 255.0 * range + lo;
        }
    } else {
        for v in values {
            *v = f32::from(blend_with_black(*v as u8, factor));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_shift_clips_to_the_images_own_range() {
        let mut values = [10.0, 20.0, 30.0];
        channel_shift(&mut values, 15.0);
        assert_eq!(values, [25.0, 30.0, 30.0]);
        channel_shift(&mut values, -100.0);
        assert_eq!(values, [25.0, 25.0, 25.0]);
    }

    #[test]
    fn brightness_truncates_as_pillow_does() {
        // 0.5 * 201 = 100.5 -> 100; 1.5 * 201 = 301.5 -> 255; 99.9 truncates to 99 first.
        let mut values = [201.0, 99.9, 0.0];
        brightness(&mut values, 0.5);
        assert_eq!(values, [100.0, 49.0, 0.0]);
        let mut values = [201.0, 99.9, 0.0];
        brightness(&mut values, 1.5);
        assert_eq!(values, [255.0, 148.0, 0.0]);
        let mut values = [201.0, 99.9];
        brightness(&mut values, 1.0);
        assert_eq!(values, [201.0, 99.0]);
    }

    #[test]
    fn brightness_scales_values_outside_0_to_255_and_back() {
        // min -10, max 300: 300 -> 255 -> 127 (factor 0.5) -> 127/255*310 - 10.
        let mut values = [-10.0, 300.0];
        brightness(&mut values, 0.5);
        assert_eq!(values, [-10.0, 127.0f32 / 255.0 * 310.0 - 10.0]);
    }
}
