//! Image files to RGB pixels, exactly as Pillow gives them to Keras's `load_img`: Pillow's
//! `Image.open(path).convert('RGB')`.
//!
//! JPEGs go through libjpeg-turbo's decoder (the copy inside mozjpeg, built from C), with
//! libjpeg's defaults as Pillow uses them (integer DCT, fancy upsampling): the pixels equal
//! Pillow's, whose wheels bundle libjpeg-turbo. The `image` crate's pure-Rust decoder differs
//! from it by up to 6 levels on ordinary photos, so it only decodes the other formats (PNG, BMP,
//! PPM, TIFF), where decoding is lossless and exact. The conversion to RGB then follows Pillow:
//! grey is copied into R, G and B, alpha is dropped without compositing, 16-bit channels keep
//! their high byte (16-bit grey is clipped at 255), CMYK is converted with Pillow's formula,
//! and the EXIF orientation is ignored. The format is told from the content, not the name.

use std::cell::Cell;
use std::io::{BufRead, Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, RgbImage};
use mozjpeg::ColorSpace;

use crate::error::{Error, Result, MAX_IMAGE_PIXELS};

/// The largest image file that is read, 256 MiB: far above any photo (Kaggle's largest JPEG is
/// under 1 MB), and a bound on what a file or a zip entry that claims to be an image can make us
/// allocate.
pub const MAX_IMAGE_FILE_BYTES: u64 = 1 << 28;

/// Reads an image file whole: the one place where image files are opened. Only a regular file
/// is opened (a FIFO named `f.jpg` would block the reader forever; see
/// [`crate::fsutil::open_file`]), and only when its size is at most [`MAX_IMAGE_FILE_BYTES`].
pub fn read_image_file(path: &Path) -> Result<Vec<u8>> {
    let file = crate::fsutil::open_file(path)?;
    read_bounded(file).map_err(|e| Error::read(path, e))
}

/// Reads all of `reader` (a file, a zip entry), refusing more than [`MAX_IMAGE_FILE_BYTES`]
/// before holding them.
pub fn read_bounded(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_IMAGE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_IMAGE_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, more than any image holds: remove it",
            MAX_IMAGE_FILE_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// Decodes an image file's bytes into RGB pixels as Pillow's `convert('RGB')` does. `path` only
/// names the file in errors.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(bytes, path)
    } else {
        decode_lossless(bytes, path)
    }
}

/// Refuses headers that claim more pixels than Pillow decodes, before anything is allocated.
fn check_size(path: &Path, width: u64, height: u64) -> Result<()> {
    if width * height > MAX_IMAGE_PIXELS {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(())
}

/// The bytes of a file in memory, read by libjpeg through mozjpeg's source manager; notes when
/// libjpeg asks for more bytes than the file has (libjpeg would then invent an end marker and
/// carry on with grey pixels, where Pillow stops with "image file is truncated").
struct Watched<'a> {
    rest: &'a [u8],
    ran_out: &'a Cell<bool>,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.rest.read(buf)
    }
}

impl BufRead for Watched<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.rest.is_empty() {
            self.ran_out.set(true);
        }
        Ok(self.rest)
    }

    fn consume(&mut self, amount: usize) {
        self.rest = &self.rest[amount.min(self.rest.len())..];
    }
}

fn decode_jpeg(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let ran_out = Cell::new(false);
    // mozjpeg reports libjpeg's fatal errors by unwinding (without the panic hook) with the
    // message as payload; they are turned into values here.
    let decoded = catch_unwind(AssertUnwindSafe(|| -> Result<RgbImage> {
        let reader = Watched {
            rest: bytes,
            ran_out: &ran_out,
        };
        let libjpeg = |e: std::io::Error| Error::not_an_image(path, e.to_string());
        let header = mozjpeg::Decompress::new_reader(reader).map_err(libjpeg)?;
        let (width, height) = header.size();
        check_size(path, width as u64, height as u64)?;
        let (width, height) = (width as u32, height as u32);
        match header.color_space() {
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => {
                let mut started = header
                    .to_colorspace(ColorSpace::JCS_CMYK)
                    .map_err(libjpeg)?;
                let cmyk: Vec<[u8; 4]> = started.read_scanlines().map_err(libjpeg)?;
                let rgb = cmyk.iter().flat_map(|&p| cmyk_to_rgb(p)).collect();
                Ok(RgbImage::from_raw(width, height, rgb).expect("libjpeg filled every row"))
            }
            _ => {
                let mut started = header.rgb().map_err(libjpeg)?;
                let rgb: Vec<u8> = started.read_scanlines().map_err(libjpeg)?;
                Ok(RgbImage::from_raw(width, height, rgb).expect("libjpeg filled every row"))
            }
        }
    }));
    let image = match decoded {
        Ok(result) => result?,
        Err(payload) => {
            let why = match payload.downcast::<String>() {
                Ok(message) => *message,
                Err(_) => "libjpeg failed".to_string(),
            };
            return Err(if ran_out.get() {
                Error::Truncated {
                    path: path.to_path_buf(),
                }
            } else {
                Error::not_an_image(path, why)
            });
        }
    };
    if ran_out.get() {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
        });
    }
    Ok(image)
}

/// Pillow reads every CMYK JPEG as Adobe's inverted CMYK (`CMYK;I`) and converts with
/// `R = (255 - K) - round(C * (255 - K) / 255)` on the re-inverted values; with the raw values
/// libjpeg gives, that is `K - round((255 - C) * K / 255)`.
fn cmyk_to_rgb([c, m, y, k]: [u8; 4]) -> [u8; 3] {
    let channel = |v: u8| k - mul_div_255(255 - v, k);
    [channel(c), channel(m), channel(y)]
}

/// `round(a * b / 255)` computed as Pillow's `MULDIV255` macro does.
fn mul_div_255(a: u8, b: u8) -> u8 {
    let t = u32::from(a) * u32::from(b) + 128;
    (((t >> 8) + t) >> 8) as u8
}

/// The memory a PNG decoder may take beside the pixels (its metadata chunks, such as a
/// compressed ICC profile, and its row buffers): the `png` crate's own default, 64 MiB. Pillow
/// refuses such chunks above 1 MB each, so no image that Keras loads comes near it.
const PNG_METADATA_BYTES: u64 = 64 << 20;

/// PNG, BMP, PPM and TIFF through the `image` crate, converted to RGB as Pillow converts them.
fn decode_lossless(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::not_an_image(path, e.to_string()))?;
    let format = match reader.format() {
        Some(
            format @ (ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Pnm | ImageFormat::Tiff),
        ) => format,
        Some(other) => {
            let name = other.extensions_str().first().copied().unwrap_or("unknown");
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                format: name.to_uppercase(),
            });
        }
        None => {
            return Err(Error::not_an_image(
                path,
                "its content is not JPEG, PNG, BMP, PPM or TIFF",
            ))
        }
    };
    // The pixels are bounded by `check_size` below, as Pillow bounds them; a PNG decoder's own
    // allocations (a compressed chunk could inflate to gigabytes) by `PNG_METADATA_BYTES`.
    let mut limits = image::Limits::no_limits();
    if format == ImageFormat::Png {
        limits.max_alloc = Some(PNG_METADATA_BYTES);
    }
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| Error::not_an_image(path, e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_size(path, u64::from(width), u64::from(height))?;
    let image = DynamicImage::from_decoder(decoder)
        .map_err(|e| Error::not_an_image(path, e.to_string()))?;
    to_rgb_like_pillow(image).ok_or_else(|| {
        Error::not_an_image(
            path,
            "its pixels are floating point, which Keras cannot load",
        )
    })
}

/// Pillow's `convert('RGB')` for the pixel layouts the `image` crate decodes into.
fn to_rgb_like_pillow(image: DynamicImage) -> Option<RgbImage> {
    let (width, height) = (image.width(), image.height());
    let rgb = |f: &dyn Fn(u32, u32) -> [u8; 3]| {
        RgbImage::from_fn(width, height, |x, y| image::Rgb(f(x, y)))
    };
    let high = |v: u16| (v >> 8) as u8;
    Some(match &image {
        DynamicImage::ImageRgb8(i) => i.clone(),
        DynamicImage::ImageRgba8(i) => rgb(&|x, y| {
            let [r, g, b, _] = i.get_pixel(x, y).0;
            [r, g, b]
        }),
        DynamicImage::ImageLuma8(i) => rgb(&|x, y| [i.get_pixel(x, y).0[0]; 3]),
        DynamicImage::ImageLumaA8(i) => rgb(&|x, y| [i.get_pixel(x, y).0[0]; 3]),
        DynamicImage::ImageRgb16(i) => rgb(&|x, y| i.get_pixel(x, y).0.map(high)),
        DynamicImage::ImageRgba16(i) => rgb(&|x, y| {
            let [r, g, b, _] = i.get_pixel(x, y).0;
            [high(r), high(g), high(b)]
        }),
        // Pillow opens 16-bit grey as mode I;16, whose conversion to RGB clips at 255.
        DynamicImage::ImageLuma16(i) => rgb(&|x, y| [i.get_pixel(x, y).0[0].min(255) as u8; 3]),
        DynamicImage::ImageLumaA16(i) => rgb(&|x, y| [high(i.get_pixel(x, y).0[0]); 3]),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_follows_pillows_formula() {
        // Raw Adobe values: C=0 means full cyan ink, K=255 means no black ink.
        assert_eq!(cmyk_to_rgb([255, 255, 255, 255]), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb([0, 255, 255, 255]), [0, 255, 255]);
        assert_eq!(cmyk_to_rgb([255, 255, 255, 0]), [0, 0, 0]);
        // K=128, C=100: 128 - round(155 * 128 / 255) = 128 - round(77.80) = 50.
        assert_eq!(cmyk_to_rgb([100, 100, 100, 128])[0], 50);
    }

    #[test]
    fn mul_div_255_rounds_to_nearest() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let exact = (f64::from(a) * f64::from(b) / 255.0).round() as u8;
                assert_eq!(mul_div_255(a, b), exact, "{a} * {b} / 255");
            }
        }
    }

    #[test]
    fn text_named_jpg_is_refused_with_its_name() {
        let err = decode_rgb(b"hello, not an image", Path::new("cats/cat.1.jpg")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("cats/cat.1.jpg is not an image"),
            "{message}"
        );
    }
}
