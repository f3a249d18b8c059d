//! The augmentation arguments written as Keras's keyword arguments on one line, for the command
//! line (`--augment rotation_range=40,zoom_range=[0.8,1.2],horizontal_flip=True`) and for
//! settings kept as text.

use super::ranges::{FillMode, ShiftRange, ZoomRange};
use crate::data::generator::ImageDataGenerator;
use crate::error::{AugmentProblem, Error, Result};

/// The argument names, as Keras spells them.
pub const AUGMENT_ARGUMENTS: [&str; 11] = [
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "brightness_range",
    "shear_range",
    "zoom_range",
    "channel_shift_range",
    "fill_mode",
    "cval",
    "horizontal_flip",
    "vertical_flip",
];

/// What an unknown argument is told to use instead: the names above (a test keeps them equal).
const KNOWN_ARGUMENTS: &str = "Keras's ImageDataGenerator names (rotation_range, \
    width_shift_range, height_shift_range, brightness_range, shear_range, zoom_range, \
    channel_shift_range, fill_mode, cval, horizontal_flip, vertical_flip), or classic";

/// `list` split at its commas outside brackets.
fn split_top_level(list: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0i32, 0, Vec::new());
    for (at, c) in list.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&list[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&list[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A number, or a sentence that says which argument wanted one.
fn number(name: &str, value: &str) -> Result<f64> {
    value.trim().parse().map_err(|_| Error::Augmentation {
        argument: format!("{name}={value}"),
        problem: AugmentProblem::NotANumber,
    })
}

/// The numbers of a `[a,b,...]` list, or `None` when `value` is not a list.
fn list(name: &str, value: &str) -> Result<Option<Vec<f64>>> {
    let value = value.trim();
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .or_else(|| value.strip_prefix('(').and_then(|v| v.strip_suffix(')')));
    let Some(inner) = inner else {
        return Ok(None);
    };
    let items = inner.split(',').map(str::trim).filter(|s| !s.is_empty());
    Ok(Some(items.map(|v| number(name, v)).collect::<Result<_>>()?))
}

/// A shift range: a list of choices, a Python int (pixels, `2`), or a float (`0.2`, `10.0`).
fn shift_range(name: &str, value: &str) -> Result<ShiftRange> {
    if let Some(choices) = list(name, value)? {
        return Ok(ShiftRange::Choices(choices));
    }
    match value.trim().parse::<i64>() {
        Ok(pixels) => Ok(ShiftRange::Int(pixels)),
        Err(_) => Ok(ShiftRange::Float(number(name, value)?)),
    }
}

/// A `True`/`False` (or `true`, `false`, `1`, `0`).
fn boolean(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::Augmentation {
            argument: format!("{name}={value}"),
            problem: AugmentProblem::NotABoolean,
        }),
    }
}

impl ImageDataGenerator {
    /// Sets the augmentation arguments written as `name=value` pairs separated by commas, with
    /// Keras's names and values (`0.2`, `10` pixels, `[0.8,1.2]`, `True`, `reflect`); the word
    /// `classic` stands for [`ImageDataGenerator::classic`]'s arguments, and later pairs
    /// change them. Refuses an unknown name or a bad value with one sentence, and then
    /// [`check`](Self::check)s the whole.
    ///
    /// ```
    /// use catsdogs::data::{FillMode, ImageDataGenerator, Preprocess, ShiftRange};
    /// let datagen = ImageDataGenerator::new(Preprocess::Vgg16)
    ///     .arguments("classic,fill_mode=reflect,width_shift_range=[-10,10]")?;
    /// assert_eq!(datagen.rotation_range, 40.0);
    /// assert_eq!(datagen.fill_mode, FillMode::Reflect);
    /// assert_eq!(datagen.width_shift_range, ShiftRange::Choices(vec![-10.0, 10.0]));
    /// assert!(ImageDataGenerator::new(Preprocess::Vgg16).arguments("rotate=40").is_err());
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn arguments(self, list_of_pairs: &str) -> Result<Self> {
        let mut datagen = self;
        for item in split_top_level(list_of_pairs) {
            if item == "classic" {
                datagen = ImageDataGenerator::classic(datagen.preprocessing);
                continue;
            }
            let Some((name, value)) = item.split_once('=') else {
                return Err(Error::Augmentation {
                    argument: format!("augmentation argument {item:?}"),
                    problem: AugmentProblem::NoValue,
                });
            };
            datagen = datagen.argument(name.trim(), value.trim())?;
        }
        datagen.check()?;
        Ok(datagen)
    }

    /// Sets one argument from its text.
    fn argument(self, name: &str, value: &str) -> Result<Self> {
        Ok(match name {
            "rotation_range" => self.rotation_range(number(name, value)?),
            "width_shift_range" => self.width_shift_range(shift_range(name, value)?),
            "height_shift_range" => self.height_shift_range(shift_range(name, value)?),
            "brightness_range" => match list(name, value)?.as_deref() {
                Some(&[lower, upper]) => self.brightness_range([lower, upper]),
                _ => {
                    return Err(Error::Augmentation {
                        argument: format!("brightness_range={value}"),
                        problem: AugmentProblem::NotAPair,
                    })
                }
            },
            "shear_range" => self.shear_range(number(name, value)?),
            "zoom_range" => match list(name, value)?.as_deref() {
                None => self.zoom_range(ZoomRange::Float(number(name, value)?)),
                Some(&[lower, upper]) => self.zoom_range([lower, upper]),
                Some(_) => {
                    return Err(Error::Augmentation {
                        argument: format!("zoom_range={value}"),
                        problem: AugmentProblem::NotOneOrTwo,
                    })
                }
            },
            "channel_shift_range" => self.channel_shift_range(number(name, value)?),
            "fill_mode" => self.fill_mode(value.parse::<FillMode>()?),
            "cval" => self.cval(number(name, value)?),
            "horizontal_flip" => self.horizontal_flip(boolean(name, value)?),
            "vertical_flip" => self.vertical_flip(boolean(name, value)?),
            _ => {
                return Err(Error::UnknownName {
                    what: "augmentation argument",
                    given: name.to_string(),
                    known: KNOWN_ARGUMENTS,
                })
            }
        })
    }
}

impl ImageDataGenerator {
    /// The augmentation as Keras's keyword arguments that differ from Keras's defaults, in
    /// [`AUGMENT_ARGUMENTS`]'s order, or `no augmentation`: what a checkpoint records and a
    /// refused resume shows, and what [`arguments`](Self::arguments) reads back.
    ///
    /// ```
    /// use catsdogs::data::{ImageDataGenerator, Preprocess};
    /// let datagen = ImageDataGenerator::new(Preprocess::Vgg16).arguments("zoom_range=[0.8,1.2],vertical_flip=True")?;
    /// assert_eq!(datagen.keras_arguments(), "zoom_range=[0.8, 1.2], vertical_flip=True");
    /// # Ok::<(), catsdogs::Error>(())
    /// ```
    pub fn keras_arguments(&self) -> String {
        let keras = ImageDataGenerator::new(self.preprocessing);
        let python = |on: bool| if on { "True" } else { "False" }.to_string();
        let zoom = |z: &ZoomRange| match z {
            ZoomRange::Float(z) => format!("{z:?}"),
            ZoomRange::Pair(pair) => format!("{pair:?}"),
        };
        let brightness = |b: &Option<[f64; 2]>| b.map_or("None".into(), |b| format!("{b:?}"));
        let values = [
            (self.rotation_range != keras.rotation_range)
                .then(|| format!("{:?}", self.rotation_range)),
            (self.width_shift_range != keras.width_shift_range)
                .then(|| self.width_shift_range.to_string()),
            (self.height_shift_range != keras.height_shift_range)
                .then(|| self.height_shift_range.to_string()),
            (self.brightness_range != keras.brightness_range)
                .then(|| brightness(&self.brightness_range)),
            (self.shear_range != keras.shear_range).then(|| format!("{:?}", self.shear_range)),
            (self.zoom_range != keras.zoom_range).then(|| zoom(&self.zoom_range)),
            (self.channel_shift_range != keras.channel_shift_range)
                .then(|| format!("{:?}", self.channel_shift_range)),
            (self.fill_mode != keras.fill_mode).then(|| self.fill_mode.to_string()),
            (self.cval != keras.cval).then(|| format!("{:?}", self.cval)),
            (self.horizontal_flip != keras.horizontal_flip).then(|| python(self.horizontal_flip)),
            (self.vertical_flip != keras.vertical_flip).then(|| python(self.vertical_flip)),
        ];
        let given: Vec<String> = AUGMENT_ARGUMENTS
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
            .collect();
        if given.is_empty() {
            "no augmentation".into()
        } else {
            given.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keras_arguments_read_back_as_the_same_generator() {
        use crate::data::{ImageDataGenerator, Preprocess};
        let base = ImageDataGenerator::new(Preprocess::Vgg16);
        for given in [
            "classic",
            "width_shift_range=10,height_shift_range=[-4,0,4],brightness_range=[0.5,1.5]",
            "channel_shift_range=20,fill_mode=reflect,cval=3,zoom_range=0.1",
        ] {
            let datagen = base.clone().arguments(given).unwrap();
            let written = datagen.keras_arguments();
            assert_eq!(
                base.clone().arguments(&written).unwrap(),
                datagen,
                "{written}"
            );
        }
        assert_eq!(base.keras_arguments(), "no augmentation");
    }

    #[test]
    fn an_unknown_argument_is_told_every_name() {
        let listed = super::KNOWN_ARGUMENTS
            .split(['(', ')', ','])
            .map(str::trim)
            .filter(|name| name.contains('_') || *name == "cval")
            .collect::<Vec<_>>();
        assert_eq!(listed, super::AUGMENT_ARGUMENTS);
    }

    use super::*;
    use crate::data::Preprocess;

    fn parse(list: &str) -> Result<ImageDataGenerator> {
        ImageDataGenerator::new(Preprocess::None).arguments(list)
    }

    #[test]
    fn every_argument_reads_as_keras_writes_it() {
        let datagen = parse(
            "rotation_range=40, width_shift_range=2, height_shift_range=0.1, \
             brightness_range=[0.5,1.5], shear_range=10, zoom_range=[0.9,1.3], \
             channel_shift_range=20, fill_mode='constant', cval=7, horizontal_flip=True, \
             vertical_flip=false",
        )
        .unwrap();
        let expected = ImageDataGenerator::new(Preprocess::None)
            .rotation_range(40.0)
            .width_shift_range(2)
            .height_shift_range(0.1)
            .brightness_range([0.5, 1.5])
            .shear_range(10.0)
            .zoom_range([0.9, 1.3])
            .channel_shift_range(20.0)
            .fill_mode(FillMode::Constant)
            .cval(7.0)
            .horizontal_flip(true);
        assert_eq!(datagen, expected);
        assert_eq!(
            parse("width_shift_range=10.0").unwrap().width_shift_range,
            ShiftRange::Float(10.0)
        );
        assert_eq!(
            parse("zoom_range=0.3").unwrap().zoom_range,
            ZoomRange::Float(0.3)
        );
        assert_eq!(
            parse("").unwrap(),
            ImageDataGenerator::new(Preprocess::None)
        );
    }

    #[test]
    fn classic_is_a_starting_point() {
        let datagen = parse("classic, rotation_range=10").unwrap();
        assert_eq!(
            datagen,
            ImageDataGenerator::classic(Preprocess::None).rotation_range(10.0)
        );
    }

    #[test]
    fn bad_arguments_are_one_sentence_each() {
        for (list, expected) in [
            ("rotate=40", "unknown augmentation argument \"rotate\""),
            ("rotation_range", "has no value"),
            ("rotation_range=-5", "rotation_range -5 is negative"),
            ("shear_range=inf", "shear_range inf is not a finite number"),
            ("width_shift_range=-2", "width_shift_range -2 is negative"),
            (
                "height_shift_range=NaN",
                "height_shift_range NaN is not a finite number",
            ),
            ("zoom_range=[1.2,0.8]", "is in the wrong order"),
            ("zoom_range=[0.8,1.0,1.2]", "needs one number or two values"),
            ("brightness_range=0.5", "needs two values"),
            ("brightness_range=[0.5]", "needs two values"),
            ("fill_mode=mirror", "unknown fill mode \"mirror\""),
            ("horizontal_flip=yes", "is not True or False"),
            ("cval=x", "cval=x is not a number"),
        ] {
            let err = parse(list).unwrap_err().to_string();
            assert!(err.contains(expected), "{list}: {err}");
            assert_eq!(
                err.matches(": ").count(),
                1,
                "one sentence with one colon: {err}"
            );
        }
    }
}
