//! `load_img`, `img_to_array` and `preprocess_input` against Pillow and NumPy, the peers that
//! Keras uses: the venv's Pillow writes the images and computes the reference pixels with
//! `Image.open(p).convert('RGB').resize((w, h), Image.NEAREST)`, and NumPy applies Keras's
//! preprocessing arithmetic in float32.

mod common;

use std::path::Path;

use catsdogs::data::{img_to_array, load_img, preprocess_input, Preprocess};
use catsdogs::Error;

/// Writes test images into argv[1] and, for each (image, target size), Pillow's pixels as raw
/// bytes; prints one line per case: file, reference file, height, width.
const MAKE_IMAGES: &str = r#"
import sys, os, io, numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(7)

def photo(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 60 * np.sin(x / (13 + 5 * c) + c) * np.cos(y / (19 + 3 * c)) for c in range(3)], -1)
    img += rng.normal(0, 14, img.shape)
    img[h // 3:h // 2, w // 4:w // 2] = [200, 40, 90]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

files = []
def save(name, img, **kw):
    p = os.path.join(out, name); img.save(p, **kw); files.append(p)

for w, h in [(320, 240), (640, 480), (768, 512), (1024, 768), (333, 499), (500, 375), (17, 9), (224, 224), (1, 1)]:
    save(f"rgb420_{w}x{h}.jpg", photo(w, h), quality=75, subsampling=2)
save("rgb444_640x427.jpg", photo(640, 427), quality=92, subsampling=0)
save("rgb422_300x200.jpg", photo(300, 200), quality=85, subsampling=1)
save("progressive_400x300.jpg", photo(400, 300), quality=80, progressive=True)
save("grey_320x200.jpg", photo(320, 200).convert("L"), quality=85)
save("cmyk_256x192.jpg", photo(256, 192).convert("CMYK"), quality=90)
exif = Image.Exif(); exif[274] = 6
save("exif_rotated_300x200.jpg", photo(300, 200), quality=85, exif=exif.tobytes())
rgba = np.dstack([np.asarray(photo(300, 180)), rng.integers(0, 256, (180, 300), dtype=np.uint8)])
save("rgba_300x180.png", Image.fromarray(rgba, "RGBA"))
save("palette_250x250.png", photo(250, 250).convert("P", palette=Image.ADAPTIVE))
save("grey16_230x100.png", Image.fromarray(rng.integers(0, 1000, (100, 230), dtype=np.uint16)))
save("la_120x90.png", photo(120, 90).convert("LA"))
save("rgb_200x150.bmp", photo(200, 150))
save("rgb_129x65.ppm", photo(129, 65))
save("rgb_160x120.tif", photo(160, 120))

for i, p in enumerate(files):
    for size in [(224, 224), (150, 200), None]:
        img = Image.open(p).convert("RGB")
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.NEAREST)
        ref = p + f".{i}.{size}.raw".replace(" ", "")
        open(ref, "wb").write(np.asarray(img).tobytes())
        print(p, ref, img.height, img.width)
"#;

#[test]
fn load_img_equals_pillow_pixel_for_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let listing = common::run_python(MAKE_IMAGES, &[dir.path().to_str().unwrap()]);
    let mut cases = 0;
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (file, reference) = (Path::new(fields[0]), fields[1]);
        let (height, width): (u32, u32) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
        // The reference names carry the asked size; None means no resize.
        let target = if reference.ends_with(".None.raw") {
            None
        } else {
            Some((height, width))
        };
        let image = load_img(file, target).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.dimensions(), (width, height), "{line}");
        let expected = std::fs::read(reference).unwrap();
        let got = image.as_raw();
        let max_diff = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert_eq!(
            max_diff, 0,
            "{line}: pixels differ from Pillow's by up to {max_diff}"
        );
        cases += 1;
    }
    assert_eq!(cases, 3 * 22);
}

#[test]
fn preprocessing_equals_keras_arithmetic_in_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, numpy as np
from PIL import Image
rng = np.random.default_rng(3)
p = sys.argv[1] + "/x.png"
Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(p)
x = np.asarray(Image.open(p).convert("RGB").resize((29, 31), Image.NEAREST)).astype(np.float32)
# Keras imagenet_utils, mode='caffe': RGB->BGR, then subtract the mean (float32 throughout).
caffe = x[..., ::-1].copy()
for c, m in enumerate([103.939, 116.779, 123.68]):
    caffe[..., c] -= m
# mode='torch': /255, then per channel (x - mean) / std.
torch = x / 255.0
for c, (m, s) in enumerate(zip([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])):
    torch[..., c] -= m
    torch[..., c] /= s
open(sys.argv[1] + "/caffe.raw", "wb").write(caffe.astype("<f4").tobytes())
open(sys.argv[1] + "/torch.raw", "wb").write(torch.astype("<f4").tobytes())
print(p)
"#;
    let path = common::run_python(script, &[dir.path().to_str().unwrap()]);
    let image = load_img(Path::new(path.trim()), Some((31, 29))).unwrap();
    for (mode, file) in [
        (Preprocess::Vgg16, "caffe.raw"),
        (Preprocess::Torch, "torch.raw"),
    ] {
        let x = preprocess_input(img_to_array(&image), mode);
        let expected: Vec<u32> = std::fs::read(dir.path().join(file))
            .unwrap()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let got: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, expected, "{mode:?}");
    }
}

/// A small valid JPEG made by Pillow.
fn small_jpeg(dir: &Path) -> Vec<u8> {
    let script = r#"
import sys, numpy as np
from PIL import Image
Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 48, 3), dtype=np.uint8)).save(sys.argv[1], quality=90)
"#;
    let path = dir.join("small.jpg");
    common::run_python(script, &[path.to_str().unwrap()]);
    std::fs::read(path).unwrap()
}

#[test]
fn bad_images_get_one_sentence_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = small_jpeg(dir.path());

    let truncated = dir.path().join("truncated.jpg");
    std::fs::write(&truncated, &jpeg[..jpeg.len() * 2 / 3]).unwrap();
    let err = load_img(&truncated, Some((224, 224))).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with(&format!("{} is truncated", truncated.display())));

    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "these are not pixels\n").unwrap();
    let err = load_img(&text, None).unwrap_err();
    assert!(matches!(err, Error::NotAnImage { .. }), "{err}");
    assert!(err.to_string().contains("remove it or replace it"), "{err}");

    // The same JPEG, its frame header (SOF0) claiming 30000x30000 pixels.
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut huge = jpeg.clone();
    huge[sof + 5..sof + 9].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]);
    let lying = dir.path().join("huge.jpg");
    std::fs::write(&lying, &huge).unwrap();
    let err = load_img(&lying, Some((224, 224))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                width: 30000,
                height: 30000,
                ..
            }
        ),
        "{err}"
    );

    let missing = dir.path().join("missing.jpg");
    let err = load_img(&missing, None).unwrap_err();
    assert!(err
        .to_string()
        .starts_with(&format!("cannot read {}", missing.display())));
}
