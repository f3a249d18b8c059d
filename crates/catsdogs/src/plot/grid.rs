//! A grid of images with a caption under each, e.g. the test images the model got most
//! confidently wrong, captioned "dog 0.98 (truth: cat)".

use image::imageops::{self, FilterType};
use image::RgbImage;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{blank, figure, text, text_size};
use crate::data::{img_to_array, transform_seed, ImageDataGenerator};
use crate::display::Png;
use crate::error::{Error, Result};

/// Side of the square each image is fitted into, in pixels (VGG16's input size).
const THUMB: u32 = 224;
/// Space around each image.
const PAD: u32 = 10;
/// Height of the caption line under each image.
const CAPTION: u32 = 30;
/// Size of one grid cell: image, padding and caption.
const CELL_WIDTH: u32 = THUMB + 2 * PAD;
const CELL_HEIGHT: u32 = PAD + THUMB + CAPTION;
/// Caption font sizes: the usual one, and the smallest a long caption shrinks to.
const CAPTION_SIZE: f64 = 16.0;
const MIN_CAPTION_SIZE: f64 = 11.0;

/// The images of `flow` at `indices`, as the model sees them (resized to the flow's target
/// size), captioned with their file names, four to a row.
pub fn flow_images(flow: &crate::data::DirectoryIterator, indices: &[usize]) -> crate::Result<Png> {
    let images = super::rgb_images(&flow.f_images_u8(indices)?)?;
    let captions: Vec<String> = indices.iter().map(|&i| flow.filenames[i].clone()).collect();
    image_grid(&images, &captions, 4)
}

/// `count` random augmentations of `image` by `datagen`, as the model would get them before
/// the preprocessing, four to a row and numbered: augmentation `i` is the transform seeded
/// [`transform_seed`](crate::data::transform_seed)`(seed, 0, i)`, so the same seed shows the
/// same grid. Values are clipped to 0-255 and truncated to 8 bits for the picture, as Keras's
/// `array_to_img(x, scale=False)` does.
///
/// ```
/// use catsdogs::data::{ImageDataGenerator, Preprocess};
/// let image = image::RgbImage::from_fn(60, 40, |x, y| image::Rgb([x as u8 * 4, y as u8 * 6, 90]));
/// let datagen = ImageDataGenerator::classic(Preprocess::None);
/// let png = catsdogs::plot::augmentations(&datagen, &image, 6, 0).unwrap();
/// assert_eq!(png.dimensions(), (4 * 244, 2 * 264));
/// assert_eq!(png.figure_kind().as_deref(), Some("augmentations"));
/// ```
pub fn augmentations(
    datagen: &ImageDataGenerator,
    image: &RgbImage,
    count: usize,
    seed: u64,
) -> Result<Png> {
    check_augmentations(count)?;
    let x = img_to_array(image);
    let (width, height) = image.dimensions();
    let images = (0..count)
        .map(|i| {
            let params = datagen.get_random_transform(x.shape(), transform_seed(seed, 0, i))?;
            let y = datagen.apply_transform(x.clone(), &params)?;
            let pixels = y.iter().map(|&v| v.clamp(0.0, 255.0) as u8).collect();
            Ok(RgbImage::from_raw(width, height, pixels).expect("the image's own size"))
        })
        .collect::<Result<Vec<_>>>()?;
    let captions: Vec<String> = (1..=count).map(|i| i.to_string()).collect();
    grid_figure(&images, &captions, 4, "augmentations")
}

/// The most augmentations that [`augmentations`] shows in one figure.
pub const MAX_AUGMENTATIONS: usize = 64;

/// Refuses a count of augmentations that [`augmentations`] cannot show: none, or more than
/// [`MAX_AUGMENTATIONS`].
pub fn check_augmentations(count: usize) -> Result<()> {
    if count == 0 || count > MAX_AUGMENTATIONS {
        return Err(Error::Augmentation {
            argument: format!("{count} augmentations"),
            problem: crate::error::AugmentProblem::CannotShow(MAX_AUGMENTATIONS),
        });
    }
    Ok(())
}

/// Shows `images` in a grid of `columns` columns (fewer if there are fewer images), each fitted
/// into a 224x224 square, keeping its proportions, centred on the bottom of the square, right
/// above its caption. A caption too
/// long for its cell is set smaller, then shortened with "…".
///
/// An empty list gives a small figure that says "no images to show" (e.g. no wrong predictions).
///
/// ```
/// let images = vec![image::RgbImage::new(300, 200), image::RgbImage::new(150, 150)];
/// let captions = vec!["dog 0.98 (truth: cat)".to_string(), "cat 0.91 (truth: dog)".to_string()];
/// let png = catsdogs::plot::image_grid(&images, &captions, 4).unwrap();
/// assert_eq!(png.dimensions(), (2 * 244, 264));
/// assert_eq!(png.figure_kind().as_deref(), Some("image-grid"));
/// ```
pub fn image_grid(images: &[RgbImage], captions: &[String], columns: usize) -> Result<Png> {
    grid_figure(images, captions, columns, "image-grid")
}

/// [`image_grid`] as a figure of `kind`, for figures that are grids of images of a kind of
/// their own (Grad-CAM's `grad-cam`).
pub(crate) fn grid_figure(
    images: &[RgbImage],
    captions: &[String],
    columns: usize,
    kind: &str,
) -> Result<Png> {
    if columns == 0 {
        return Err(Error::NoColumns);
    }
    if images.len() != captions.len() {
        return Err(Error::LengthMismatch {
            what: "images and captions",
            left: images.len(),
            right: captions.len(),
        });
    }
    if images.is_empty() {
        return Ok(figure(blank(360, 60), kind, |root| {
            let style = text(CAPTION_SIZE).pos(Pos::new(HPos::Center, VPos::Center));
            root.draw_text("no images to show", &style, (180, 30))
        }));
    }
    let columns = columns.min(images.len());
    let rows = images.len().div_ceil(columns);
    let mut canvas = blank(columns as u32 * CELL_WIDTH, rows as u32 * CELL_HEIGHT);
    for (i, image) in images.iter().enumerate() {
        let (x, y) = cell_origin(i, columns);
        let thumb = thumbnail(image);
        let left = x + PAD + (THUMB - thumb.width()) / 2;
        let top = y + PAD + THUMB - thumb.height();
        imageops::replace(&mut canvas, &thumb, i64::from(left), i64::from(top));
    }
    Ok(figure(canvas, kind, |root| {
        for (i, caption) in captions.iter().enumerate() {
            let (x, y) = cell_origin(i, columns);
            let (caption, style) = fit_caption(caption, CELL_WIDTH - PAD);
            let centre = (x + CELL_WIDTH / 2, y + PAD + THUMB + CAPTION / 2);
            let style = style.pos(Pos::new(HPos::Center, VPos::Center));
            root.draw_text(&caption, &style, (centre.0 as i32, centre.1 as i32))?;
        }
        Ok(())
    }))
}

/// Top-left pixel of the `index`-th cell, filled row by row.
fn cell_origin(index: usize, columns: usize) -> (u32, u32) {
    let (row, column) = (index / columns, index % columns);
    (column as u32 * CELL_WIDTH, row as u32 * CELL_HEIGHT)
}

/// The image scaled to fit a THUMB x THUMB square, keeping its proportions.
fn thumbnail(image: &RgbImage) -> RgbImage {
    let (width, height) = image.dimensions();
    let longest = width.max(height);
    if width == 0 || height == 0 {
        return RgbImage::new(0, 0);
    }
    let fit = |side: u32| (u64::from(side) * u64::from(THUMB) / u64::from(longest)).max(1) as u32;
    imageops::resize(image, fit(width), fit(height), FilterType::Triangle)
}

/// The caption and a style in which it fits `width` pixels: smaller type first, then fewer
/// characters and an ellipsis.
fn fit_caption(caption: &str, width: u32) -> (String, TextStyle<'static>) {
    let mut size = CAPTION_SIZE;
    while size > MIN_CAPTION_SIZE && text_size(caption, &text(size)).0 > width {
        size -= 1.0;
    }
    let style = text(size);
    let mut chars: Vec<char> = caption.chars().collect();
    let mut fitted = caption.to_string();
    while text_size(&fitted, &style).0 > width && !chars.is_empty() {
        chars.pop();
        fitted = chars.iter().collect::<String>() + "…";
    }
    (fitted, style)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn captions(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("image {i}")).collect()
    }

    #[test]
    fn images_are_fitted_centred_and_laid_out_row_by_row() {
        let red = RgbImage::from_pixel(448, 224, Rgb([255, 0, 0]));
        let green = RgbImage::from_pixel(50, 100, Rgb([0, 255, 0]));
        let blue = RgbImage::from_pixel(10, 10, Rgb([0, 0, 255]));
        let png = image_grid(&[red, green, blue], &captions(3), 2).unwrap();
        assert_eq!(png.figure_kind().as_deref(), Some("image-grid"));
        let image = image::load_from_memory(png.bytes()).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (2 * CELL_WIDTH, 2 * CELL_HEIGHT));
        let at = |x: u32, y: u32| *image.get_pixel(x, y);
        // Red, 2:1, becomes 224x112 on the bottom half of its square.
        assert_eq!(at(PAD, PAD + 112), Rgb([255, 0, 0]));
        assert_eq!(at(PAD + 223, PAD + 223), Rgb([255, 0, 0]));
        assert_eq!(at(PAD, PAD + 111), Rgb([255, 255, 255]));
        assert_eq!(at(PAD + 224, PAD + 223), Rgb([255, 255, 255]));
        // Green, 1:2, becomes 112x224 in the second column: columns 56..168 of its square.
        let x0 = CELL_WIDTH + PAD;
        assert_eq!(at(x0 + 56, PAD), Rgb([0, 255, 0]));
        assert_eq!(at(x0 + 167, PAD + 223), Rgb([0, 255, 0]));
        assert_eq!(at(x0 + 55, PAD), Rgb([255, 255, 255]));
        // Blue is scaled up to the whole square of the first cell of the second row.
        assert_eq!(at(PAD, CELL_HEIGHT + PAD), Rgb([0, 0, 255]));
        assert_eq!(at(PAD + 223, CELL_HEIGHT + PAD + 223), Rgb([0, 0, 255]));
        // The fourth cell is empty, and so is the band between image and caption.
        assert_eq!(at(x0 + 112, CELL_HEIGHT + PAD + 112), Rgb([255, 255, 255]));
        // Under each image there is dark caption text.
        let caption_band = |x0: u32, y0: u32| {
            (x0..x0 + CELL_WIDTH)
                .flat_map(|x| (y0 + PAD + THUMB..y0 + CELL_HEIGHT).map(move |y| (x, y)))
                .filter(|&(x, y)| at(x, y)[0] < 100)
                .count()
        };
        assert!(caption_band(0, 0) > 50);
        assert_eq!(caption_band(CELL_WIDTH, CELL_HEIGHT), 0);
    }

    #[test]
    fn long_captions_shrink_then_get_an_ellipsis() {
        let (short, style) = fit_caption("dog 0.98 (truth: cat)", CELL_WIDTH - PAD);
        assert_eq!(
            (short.as_str(), style.font.get_size()),
            ("dog 0.98 (truth: cat)", 16.0)
        );
        let long = "a very long caption that cannot fit under one image, however small";
        let (fitted, style) = fit_caption(long, CELL_WIDTH - PAD);
        assert_eq!(style.font.get_size(), MIN_CAPTION_SIZE);
        assert!(fitted.ends_with('…') && long.starts_with(fitted.trim_end_matches('…')));
        assert!(text_size(&fitted, &style).0 <= CELL_WIDTH - PAD);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let images = vec![RgbImage::new(4, 4)];
        let err = image_grid(&images, &captions(2), 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "images and captions: 1 against 2; give one of each per item"
        );
        assert!(matches!(
            image_grid(&images, &captions(1), 0),
            Err(Error::NoColumns)
        ));
    }

    #[test]
    fn no_images_and_empty_images_still_draw() {
        let png = image_grid(&[], &[], 4).unwrap();
        assert_eq!(png.dimensions(), (360, 60));
        let png = image_grid(&[RgbImage::new(0, 7)], &captions(1), 1).unwrap();
        assert_eq!(png.dimensions(), (CELL_WIDTH, CELL_HEIGHT));
    }
}
