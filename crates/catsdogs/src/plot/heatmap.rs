//! A heatmap over an image, as Keras's Grad-CAM example draws it: the map (values in [0, 1], at
//! any resolution) upsampled to the image, coloured with a colour map and blended over it.
//!
//! ```
//! use catsdogs::plot::{overlay, Colormap};
//! let photo = image::RgbImage::from_pixel(8, 6, image::Rgb([200, 200, 200]));
//! let map = ndarray::Array2::from_shape_vec((2, 2), vec![0.0, 1.0, 0.5, 0.0]).unwrap();
//! let overlaid = overlay(&photo, &map, Colormap::Jet, 0.4).unwrap();
//! assert_eq!(overlaid.dimensions(), (8, 6));
//! assert_eq!(Colormap::Jet.color(1.0), image::Rgb([128, 0, 0]));
//! assert_eq!("viridis".parse::<Colormap>().unwrap(), Colormap::Viridis);
//! ```

use std::fmt;
use std::str::FromStr;

use image::{Rgb, RgbImage};
use ndarray::Array2;
use plotters::style::colors::colormaps::ViridisRGB;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// How values from 0 to 1 become colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colormap {
    /// Dark blue, blue, cyan, yellow, red, dark red: the rainbow of Keras's Grad-CAM example
    /// (MATLAB's and matplotlib's `jet`).
    #[default]
    Jet,
    /// Dark purple, blue, green, yellow: matplotlib's default, even in lightness, readable in
    /// grey and by colour-blind readers.
    Viridis,
}

impl Colormap {
    /// The colour of `value`, clamped to [0, 1].
    pub fn color(self, value: f32) -> Rgb<u8> {
        let v = if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        };
        match self {
            Colormap::Jet => {
                // Each channel rises and falls linearly: a tent of height 1.5 centred at 3/4
                // (red), 1/2 (green) and 1/4 (blue) of the range, clipped to [0, 1].
                let tent = |centre: f32| (1.5 - (4.0 * v - 4.0 * centre).abs()).clamp(0.0, 1.0);
                let byte = |c: f32| (c * 255.0).round() as u8;
                Rgb([byte(tent(0.75)), byte(tent(0.5)), byte(tent(0.25))])
            }
            Colormap::Viridis => {
                let color = ViridisRGB::get_color(v);
                Rgb([color.0, color.1, color.2])
            }
        }
    }
}

impl FromStr for Colormap {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "jet" => Ok(Colormap::Jet),
            "viridis" => Ok(Colormap::Viridis),
            _ => Err(Error::UnknownName {
                what: "colour map",
                given: s.to_string(),
                known: "jet or viridis",
            }),
        }
    }
}

impl fmt::Display for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Colormap::Jet => "jet",
            Colormap::Viridis => "viridis",
        })
    }
}

/// `image` with `map` laid over it: the map upsampled bilinearly to the image's size (each of
/// its cells covers the same share of the image, as the network saw the image squeezed to its
/// input size), coloured with `colormap` and blended in at `opacity`, from 0 (the image alone)
/// to 1 (the colours alone): `(1 - opacity) * pixel + opacity * colour`.
pub fn overlay(
    image: &RgbImage,
    map: &Array2<f32>,
    colormap: Colormap,
    opacity: f32,
) -> Result<RgbImage> {
    if !(0.0..=1.0).contains(&opacity) {
        return Err(Error::Opacity(opacity));
    }
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 || map.is_empty() {
        return Ok(image.clone());
    }
    let values = upsample(map, height, width)?;
    let mut out = image.clone();
    for (pixel, &value) in out.pixels_mut().zip(&values) {
        let color = colormap.color(value);
        for (channel, c) in pixel.0.iter_mut().zip(color.0) {
            let blended = (1.0 - opacity) * f32::from(*channel) + opacity * f32::from(c);
            *channel = blended.round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(out)
}

/// `map` resized to `height` x `width` by bilinear interpolation (half-pixel centres, as
/// Pillow's and PyTorch's `align_corners=False`), row after row.
fn upsample(map: &Array2<f32>, height: u32, width: u32) -> Result<Vec<f32>> {
    let (rows, columns) = map.dim();
    let values: Vec<f32> = map.iter().copied().collect();
    let map = Tensor::f_from_slice(&values)?
        .f_view([1, 1, rows as i64, columns as i64])?
        .f_to_kind(Kind::Float)?;
    let size = [i64::from(height), i64::from(width)];
    let resized = map.f_upsample_bilinear2d(size, false, None, None)?;
    Ok(Vec::try_from(
        resized.f_to_device(Device::Cpu)?.f_flatten(0, -1)?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_runs_from_dark_blue_through_cyan_and_yellow_to_dark_red() {
        let jet = |v| Colormap::Jet.color(v).0;
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(0.125), [0, 0, 255]);
        assert_eq!(jet(0.375), [0, 255, 255]);
        assert_eq!(jet(0.625), [255, 255, 0]);
        assert_eq!(jet(0.875), [255, 0, 0]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        assert_eq!(jet(-3.0), jet(0.0));
        assert_eq!(jet(f32::NAN), jet(0.0));
    }

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(Colormap::Viridis.color(0.0).0, [68, 1, 84]);
        assert_eq!(Colormap::Viridis.color(1.0).0, [254, 232, 37]);
    }

    #[test]
    fn opacity_blends_and_the_map_covers_the_image() {
        let photo = RgbImage::from_pixel(4, 4, Rgb([100, 100, 100]));
        // Left half 0, right half 1: after upsampling, the left column is 0, the right one 1.
        let map = Array2::from_shape_vec((1, 2), vec![0.0, 1.0]).unwrap();
        let alone = overlay(&photo, &map, Colormap::Jet, 0.0).unwrap();
        assert_eq!(alone, photo);
        let colours = overlay(&photo, &map, Colormap::Jet, 1.0).unwrap();
        assert_eq!(colours.get_pixel(0, 2).0, [0, 0, 128]);
        assert_eq!(colours.get_pixel(3, 2).0, [128, 0, 0]);
        let half = overlay(&photo, &map, Colormap::Jet, 0.5).unwrap();
        assert_eq!(half.get_pixel(0, 0).0, [50, 50, 114]);
        let error = overlay(&photo, &map, Colormap::Jet, 1.5).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("opacity 1.5 is outside 0 to 1"));
    }

    #[test]
    fn names_parse_and_print() {
        for colormap in [Colormap::Jet, Colormap::Viridis] {
            assert_eq!(colormap.to_string().parse::<Colormap>().unwrap(), colormap);
        }
        let error = "rainbow".parse::<Colormap>().unwrap_err().to_string();
        assert_eq!(error, "unknown colour map \"rainbow\": use jet or viridis");
    }
}
