//! Errors are values: one flat [`Error`] for the whole crate, as candle-core has it, at the
//! bottom of the layers, so that every module returns it and none converts errors back and
//! forth. Every failure a user can meet (a bad JPEG, a missing weight file, a wrong folder
//! layout, a batch too large for memory) reads as one sentence that names the thing and says
//! what to do; the variants are grouped by where they arise. A message that names an option
//! names it both ways: the command's flag and the notebook's API, e.g. "--resume
//! (FitOptions::resume(true))".
//!
//! One idea in one file (over 400 lines): every error the crate can give, as one enum.
//!
//! ```
//! let err = catsdogs::data::load_img("no/such.jpg".as_ref(), None).unwrap_err();
//! assert!(matches!(err, catsdogs::Error::Read { .. }));
//! assert!(err.to_string().starts_with("cannot read no/such.jpg: "));
//! ```

use std::path::{Path, PathBuf};

/// Pillow refuses images of more than twice `Image.MAX_IMAGE_PIXELS` (2 x 89,478,485) pixels
/// with a `DecompressionBombError`, so Keras cannot load them either. They are refused before
/// anything is allocated, which also bounds the memory a lying header can ask for.
pub const MAX_IMAGE_PIXELS: u64 = 2 * 89_478_485;

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ----- files and folders -----
    /// The operating system refused an operation on a file or folder.
    #[error("{what} {}: {reason}", path.display())]
    Io {
        /// What was being done, e.g. "cannot write".
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// A file or folder could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// A file that a write must not replace exists already.
    #[error("{} exists already: {hint}", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
        /// What to do.
        hint: &'static str,
    },
    /// Another process holds the folder.
    #[error("{} is in use by another catsdogs process (a run writing into it): wait for it to end, or use another folder", path.display())]
    Locked {
        /// The folder.
        path: PathBuf,
    },
    /// A file or folder that is needed does not exist.
    #[error("{} does not exist: {hint}", path.display())]
    Missing {
        /// The file or folder.
        path: PathBuf,
        /// What to do.
        hint: &'static str,
    },
    /// A file (a zip, a manifest, a cache, a run, an output folder) is not what was expected.
    #[error("{}: {why}", path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong and what to do.
        why: String,
    },

    // ----- images and data folders -----
    /// A file that should be an image cannot be decoded.
    #[error("{} is not an image that Keras could load ({why}): remove it or replace it with a JPEG, PNG, BMP, PPM or TIFF file", path.display())]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        why: String,
    },
    /// An image in a format that Keras (Pillow) loads but this crate does not decode.
    #[error("{} is a {format} image: Keras (through Pillow) would load it, but catsdogs decodes only JPEG, PNG, BMP, PPM and TIFF: convert it to one of those, or remove it", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The format found in its content, e.g. `GIF`.
        format: String,
    },
    /// A JPEG ends before its last row of pixels.
    #[error("{} is truncated (the file ends before its last row of pixels): copy or download it again, or remove it", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
    },
    /// An image header claims more pixels than Pillow would decode.
    #[error("{} claims to be {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} that Pillow (and so Keras) decodes: remove it or shrink it", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Width from the header.
        width: u64,
        /// Height from the header.
        height: u64,
    },
    /// A folder given to `flow_from_directory` has no class sub-folders.
    #[error("{} has no class folders (such as cats/ and dogs/): give a split folder such as data/split/train", path.display())]
    NoClasses {
        /// The folder.
        path: PathBuf,
    },
    /// A class folder holds no image files.
    #[error("class folder {} holds no images (png, jpg, jpeg, bmp, ppm, tif or tiff): add images or remove the folder", path.display())]
    EmptyClass {
        /// The class folder.
        path: PathBuf,
    },
    /// A sample index is out of range.
    #[error("image index {index} is out of range: the flow has {samples} images")]
    Index {
        /// The index asked for.
        index: usize,
        /// The number of images.
        samples: usize,
    },

    // ----- models, weights and predictions -----
    /// A layer name that the model does not have.
    #[error("{model} has no layer named '{layer}'; its layers are {}", known.join(", "))]
    UnknownLayer {
        /// The model.
        model: String,
        /// The name asked for.
        layer: String,
        /// The model's layer names.
        known: Vec<String>,
    },
    /// A range of layer indices outside the model.
    #[error("{model} has {len} layers, so it cannot run layers {start}..{end}")]
    Range {
        /// The model.
        model: String,
        /// First index asked for.
        start: usize,
        /// One past the last index asked for.
        end: usize,
        /// Number of layers.
        len: usize,
    },
    /// A layer was given the wrong number of weight tensors.
    #[error("layer {layer} takes {expected} weight tensors ({names}) but was given {found}")]
    WeightCount {
        /// The layer.
        layer: String,
        /// Tensors the layer takes.
        expected: usize,
        /// Their names, e.g. "kernel, bias".
        names: String,
        /// Tensors given.
        found: usize,
    },
    /// A range of layers that starts inside a residual block, where two tensors flow in.
    #[error("{model} cannot start at layer {layer}: the outputs of {} flow into it and the layers after it, since it is inside a residual block; start at the first layer of a block", needs.join(" and "))]
    Cut {
        /// The model.
        model: String,
        /// The layer asked for.
        layer: String,
        /// The layers (or "the input") whose outputs flow in.
        needs: Vec<String>,
    },
    /// A weight tensor of the wrong shape.
    #[error(
        "layer {layer}: {weight} should have shape {} but has shape {}",
        fmt_shape(expected),
        fmt_shape(found)
    )]
    WeightShape {
        /// The layer.
        layer: String,
        /// `kernel` or `bias`.
        weight: String,
        /// The shape the architecture needs.
        expected: Vec<i64>,
        /// The shape given.
        found: Vec<i64>,
    },
    /// An input of the wrong shape for a layer or model.
    #[error(
        "{what} expects {expected} but got a batch of shape {}",
        fmt_shape(found)
    )]
    Input {
        /// The layer or model, e.g. "layer block1_conv1".
        what: String,
        /// What it needs.
        expected: String,
        /// The batch's shape.
        found: Vec<i64>,
    },
    /// An image size a model cannot be built for.
    #[error("{model} needs images of {expected}; {height}x{width} does not fit")]
    InputSize {
        /// The model.
        model: String,
        /// The sizes it takes.
        expected: String,
        /// Height asked for.
        height: i64,
        /// Width asked for.
        width: i64,
    },
    /// Keras's `pooling=` asked for with the top, which ends in the ImageNet classes.
    #[error("{model} with its top ends in its ImageNet classes; pooling={pooling} is for the network without it (include_top=false)")]
    PoolingWithTop {
        /// The network.
        model: String,
        /// The pooling asked for.
        pooling: String,
    },
    /// A saved model file without a readable architecture.
    #[error("{} is not a model that catsdogs saved ({why}): train it again, or give the model.safetensors of a run folder", path.display())]
    Architecture {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A layer that cannot be part of a model where it is.
    #[error("{model} cannot have its layer {layer} there: {why}")]
    BadLayer {
        /// The model.
        model: String,
        /// The layer.
        layer: String,
        /// Why, e.g. "it takes maps of 64 channels ..., not samples of shape [3, 32, 32]".
        why: String,
    },
    /// A model asked to train or evaluate before `compile`.
    #[error("{model} is not compiled: call model.compile(optimizer, loss) first, as in Keras")]
    NotCompiled {
        /// The model.
        model: String,
    },
    /// The file is none of the known weights formats.
    #[error("{} is not a weights file that catsdogs reads: expected Keras .h5 (HDF5), torchvision .pth (torch.save) or safetensors", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is of a known format but cannot be read.
    #[error("cannot read {} as {format}: {why}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The format it was read as.
        format: &'static str,
        /// The reader's reason.
        why: String,
    },
    /// A Keras file (weights, `.h5` or `.keras` model) without a part that every such file has.
    #[error(
        "{} has no {part}, so it is not {format} (or it is damaged): save it again with Keras", path.display())]
    KerasMissing {
        /// The file.
        path: PathBuf,
        /// The part, e.g. `attribute model_config` or `group model_weights/dense`.
        part: String,
        /// What the file should be, e.g. `a Keras 2 .h5 model`.
        format: &'static str,
    },
    /// A part of a Keras file that is not what Keras writes, or, when writing, a part of a
    /// model that Keras could not read back.
    #[error("{}: {part} {why}", path.display())]
    KerasInvalid {
        /// The file.
        path: PathBuf,
        /// The part, e.g. `dataset model_weights/dense/dense/kernel:0`.
        part: String,
        /// What is wrong with it, and what to do.
        why: String,
    },
    /// A layer of a Keras model file that catsdogs cannot build, or whose weights do not
    /// belong to its config.
    #[error("{}: its layer {layer} ({class}) {why}", path.display())]
    KerasLayer {
        /// The file.
        path: PathBuf,
        /// The layer, after the models it is nested in: `vgg16/block1_conv1`.
        layer: String,
        /// Its Keras class.
        class: String,
        /// What is wrong, and what to do.
        why: String,
    },
    /// A model that Keras's model files cannot hold as it is.
    #[error("cannot save {model} as {}: {why}", path.display())]
    KerasExport {
        /// The file asked for.
        path: PathBuf,
        /// The model.
        model: String,
        /// Why, and what to do.
        why: String,
    },
    /// A zip member that declares far more bytes than the archive holds of it.
    #[error("{}: its member {member} declares {declared} bytes where the archive holds {stored} bytes of it, more than {ratio} times as many: a decompression bomb or a damaged file, so it is not unpacked", path.display())]
    ZipBomb {
        /// The zip file.
        path: PathBuf,
        /// The member.
        member: String,
        /// The size it declares, unpacked.
        declared: u64,
        /// The size the archive holds, packed.
        stored: u64,
        /// The largest ratio of the two that is unpacked.
        ratio: u64,
    },
    /// A file that ends before its header says it does.
    #[error("{} is truncated: its {format} header says it is {expected} bytes long but it has {found}; copy or save it again", path.display())]
    FileTruncated {
        /// The file.
        path: PathBuf,
        /// Its format, e.g. `HDF5`.
        format: &'static str,
        /// Its length as its header gives it.
        expected: u64,
        /// Its length.
        found: u64,
    },
    /// A layer's weights are not in the file.
    #[error("{} has no weights for {network} layer {layer} ({expected}){hint}", path.display())]
    MissingLayer {
        /// The file.
        path: PathBuf,
        /// The network, e.g. `VGG16` or `ResNet50`.
        network: &'static str,
        /// The layer.
        layer: String,
        /// The tensors the layer needs, with their shapes in the file's layout.
        expected: String,
        /// What to do.
        hint: String,
    },
    /// A tensor of the wrong shape in a weights file.
    #[error("{}: {network} layer {layer} needs {weight} ({name_in_file} in the file) of shape {} but the file has shape {}", path.display(), fmt_shape(&shapes.0), fmt_shape(&shapes.1))]
    Shape {
        /// The file.
        path: PathBuf,
        /// The network, e.g. `VGG16` or `ResNet50`.
        network: &'static str,
        /// The layer.
        layer: String,
        /// `kernel` or `bias`.
        weight: &'static str,
        /// The tensor's name in the file.
        name_in_file: String,
        /// The shape the network needs, in the file's layout, and the shape in the file.
        shapes: Box<(Vec<i64>, Vec<i64>)>,
    },
    /// A weight tensor whose values are not floating-point numbers (an integer tensor where a
    /// layer needs a kernel or a bias).
    #[error("{}: the weight {tensor} holds {found} values, where a layer needs floating-point numbers: the file was not written by Keras, torchvision or catsdogs, so convert or save it again from the original", path.display())]
    WeightType {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// What it holds, e.g. `int32`.
        found: String,
    },
    /// A weight tensor that holds NaN or an infinity, which would make every answer NaN.
    #[error("{}: the weight {tensor} holds {value}, which is not a number a model can compute with: the file is damaged (or training diverged), so use another file, or train or convert it again", path.display())]
    NonFiniteWeight {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// Its first value that is not finite.
        value: f64,
    },
    /// A network's answer that is not a number: never printed or written as a result.
    #[error("{what} came out as {value}, which is not a number (the network's arithmetic overflowed), so no result is printed or written: check the model file, or compute in float32 (--precision fp32, or Precision::Fp32)")]
    NotFinite {
        /// The answer, e.g. "the dog probability of cat.1.jpg".
        what: String,
        /// The answer: NaN or an infinity.
        value: f64,
    },
    /// Weights without the top were asked for the top.
    #[error("{} has no top ({top}): it is a notop file; build {network} without its top (leave out --include-top, or include_top=false), or give the weights file with the top ({file}.h5)", path.display())]
    NoTop {
        /// The file.
        path: PathBuf,
        /// The network, e.g. `VGG16`.
        network: &'static str,
        /// The top's layers with weights, e.g. "fc1, fc2, predictions".
        top: String,
        /// Keras's weights file with the top, without its extension.
        file: &'static str,
    },
    /// A weights file of another network (or another variant of it) than the one asked for.
    #[error("{} holds {holds} where {expected} are needed: {what_to_do}", path.display())]
    WrongNetwork {
        /// The file.
        path: PathBuf,
        /// What it holds, e.g. "ResNet50's weights".
        holds: String,
        /// What was asked for, e.g. "VGG16's".
        expected: String,
        /// What to do.
        what_to_do: String,
    },
    /// Predictions that are not (samples, 1000).
    #[error("decode_predictions expects a batch of predictions of shape (samples, 1000), like VGG16's with its top; found shape {0:?}")]
    PredictionShape(Vec<i64>),
    /// A precision that the device cannot compute (fast, or at all).
    #[error("precision {precision} is not available on {device}: {instead}")]
    PrecisionUnavailable {
        /// The precision asked for.
        precision: String,
        /// The device, in words.
        device: String,
        /// What to use instead.
        instead: &'static str,
    },

    // ----- training -----
    /// The loss stopped being a number.
    #[error("the loss became {value} at epoch {epoch}/{epochs}, step {step}/{steps}, so training stopped before updating the weights: lower the learning rate (lr) or look for broken images; {saved}")]
    NanLoss {
        /// The loss, NaN or infinite.
        value: f64,
        /// The epoch, from 1.
        epoch: usize,
        /// Epochs asked for.
        epochs: usize,
        /// The step within the epoch, from 1.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// What the checkpoints hold.
        saved: String,
    },
    /// A batch did not fit in memory.
    #[error("out of memory on the {device} {during} with batches of {batch_size} images: lower the batch size (--batch-size, or batch_size), for example to {}; libtorch said: {message}", (batch_size / 2).max(1))]
    OutOfMemory {
        /// CPU or GPU.
        device: String,
        /// What was running, e.g. "at epoch 1, step 3".
        during: String,
        /// Images per batch.
        batch_size: usize,
        /// libtorch's first line.
        message: String,
    },
    /// Ctrl-C (or [`crate::interrupt::request`]) stopped the work.
    #[error("interrupted {during}; {saved}")]
    Interrupted {
        /// What was running.
        during: String,
        /// What is kept and how to go on.
        saved: String,
    },
    /// `fit` asked for no epoch.
    #[error("0 epochs train nothing: give epochs (--epochs) of at least 1")]
    NoEpochs,
    /// A checkpoint folder already holds a run, and resuming was not asked for.
    #[error("{} already holds a checkpoint after epoch {epoch}: resume it (--resume, or FitOptions::resume(true)), or delete the folder to start over", dir.display())]
    CheckpointExists {
        /// The checkpoint folder.
        dir: PathBuf,
        /// Its last epoch.
        epoch: usize,
    },
    /// A checkpoint made with other settings or another model.
    #[error(
        "cannot resume from {}: {why}; resume with the same model and settings, or {start_over}", dir.display())]
    CheckpointMismatch {
        /// The checkpoint folder.
        dir: PathBuf,
        /// What differs.
        why: String,
        /// How to start over instead (`to start over, ...`).
        start_over: String,
    },

    // ----- options -----
    /// A name that is not one of those a parser knows (an experiment, a network, a pooling, a
    /// preprocessing, a precision, a colour map).
    #[error("unknown {what} {given:?}: use {known}")]
    UnknownName {
        /// What the name is for, e.g. `pooling`.
        what: &'static str,
        /// The name given.
        given: String,
        /// The names there are, e.g. `none, avg or max`.
        known: &'static str,
    },
    /// An augmentation argument (`rotation_range=-5`, `zoom_range [1.2, 0.8]`) that Keras's
    /// ImageDataGenerator would refuse or that cannot be read.
    #[error("{argument} {problem}")]
    Augmentation {
        /// The argument as given, e.g. `zoom_range [1.2, 0.8]` or `brightness_range=0.5`.
        argument: String,
        /// What is wrong with it.
        problem: AugmentProblem,
    },
    /// A learning rate that is not a positive number.
    #[error("the learning rate {0} is not a positive number: give --lr (the optimizer's lr) a value such as 2e-5")]
    LearningRate(f64),
    /// A batch size of 0.
    #[error("batch size 0 is empty: use at least 1, such as 50")]
    EmptyBatch,
    /// A target size not written `HEIGHTxWIDTH`.
    #[error("target size {0:?} is not HEIGHTxWIDTH: write it like 224x224")]
    TargetSizeSyntax(String),
    /// A target size with a side of 0, or with a side above `max`.
    #[error("target size {height}x{width} is {}", if *height == 0 || *width == 0 { "empty: give a height and a width of at least 1, such as 224x224".to_string() } else { format!("too large: each side may be at most {max} pixels (VGG16 was trained on 224x224)") })]
    TargetSize {
        /// Height asked for.
        height: u32,
        /// Width asked for.
        width: u32,
        /// The largest side.
        max: u32,
    },
    /// Split sizes that are all 0.
    #[error("the split sizes are all 0: give at least one image to train, validation or test")]
    EmptySplit,
    /// A sample size outside 1 to `max` images per class.
    #[error("a sample has 1 to {max} images per class, not {given}: give --per-class (SampleOptions::per_class) a number within that (Kaggle has 12500)")]
    PerClass {
        /// The images per class asked for.
        given: usize,
        /// The most a sample has.
        max: usize,
    },
    /// A flow that a binary model cannot train on: not exactly two class folders.
    #[error("the {role} folder {} has {} class folder(s) ({}), but a cat/dog model needs exactly two, such as cats/ and dogs/: remove or move the others", dir.display(), classes.len(), classes.join(", "))]
    ClassCount {
        /// What the folder is for, e.g. `training`.
        role: &'static str,
        /// The folder.
        dir: PathBuf,
        /// Its class folders.
        classes: Vec<String>,
    },
    /// A flow whose class folders differ from those a model was trained with.
    #[error("{} has the classes {} but {what} has {}: the labels would not mean the same; give folders with the same class folders", dir.display(), classes.join(", "), expected.join(", "))]
    ClassesDiffer {
        /// The folder.
        dir: PathBuf,
        /// Its class folders.
        classes: Vec<String>,
        /// What the classes are compared with, e.g. `the training folder`.
        what: String,
        /// Their class folders.
        expected: Vec<String>,
    },
    /// A model whose input is not an image batch's.
    #[error("the model's input shape {0:?} is not (3, height, width)")]
    InputShape(Vec<i64>),
    /// A model that is not a cat/dog model.
    #[error("{} is not a cat/dog model: it does not end in one sigmoid unit (the probability of a dog); give the model of a catsdogs run", .0.display())]
    NotCatDog(PathBuf),
    /// A run folder without a trained model.
    #[error("{} holds no trained model ({file}): train one there first (`catsdogs train --out FOLDER`, or notebook 02-feature-extraction or 03-fine-tuning), or give the run folder of a finished run", dir.display())]
    NoTrainedModel {
        /// The folder.
        dir: PathBuf,
        /// The model file it lacks.
        file: &'static str,
    },
    /// A run from a trained model (`--from`) given base weights too, which it would not use.
    #[error("--from (RunOptions::from) starts from the trained model of {}, its base's weights included, so --weights (RunOptions::weights) would not be used: leave out one of them", .0.display())]
    FromWithWeights(PathBuf),
    /// A run from a trained model (`--from`) asked for another base or image size than the
    /// model's.
    #[error("the model of {} (--from, or RunOptions::from) has {has}, not the {asked} that {flag} asks for: leave out {flag} to use the model's, or leave out --from", from.display())]
    FromDiffers {
        /// The trained model's run folder.
        from: PathBuf,
        /// What the model has, e.g. `a VGG16 base` or `224x224 images`.
        has: String,
        /// What the option asks for, e.g. `ResNet50` or `160x160`.
        asked: String,
        /// The option, e.g. `--backbone (RunOptions::backbone)`.
        flag: &'static str,
    },
    /// A decoding benchmark given no image files.
    #[error("no images to decode: give at least one file")]
    NoImagesToDecode,
    /// A timing (of what: `forward`, `Grad-CAM`) of no image or no iteration.
    #[error("a timing of {0} needs at least 1 image and at least 1 iteration")]
    NothingToTime(&'static str),
    /// The decoding threads of a benchmark could not start.
    #[error("cannot start {threads} decoding threads ({reason}): ask for fewer threads")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// rayon's reason.
        reason: rayon::ThreadPoolBuildError,
    },
    /// A callback given arguments it cannot work with (checked before the first epoch), or
    /// whose work failed.
    #[error("{callback}: {why}")]
    Callback {
        /// The callback, e.g. `EarlyStopping`.
        callback: &'static str,
        /// What is wrong and what to do.
        why: String,
    },

    // ----- figures -----
    /// An image without pixels cannot be a PNG.
    #[error("cannot encode a {width}x{height} image as PNG: a PNG needs at least one pixel in each direction; check where the image was made")]
    EmptyImage {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The PNG encoder refused the image.
    #[error("cannot encode the image as PNG: {0}")]
    PngEncode(#[from] png::EncodingError),
    /// Two lists that go together have different lengths.
    #[error("{what}: {left} against {right}; give one of each per item")]
    LengthMismatch {
        /// What the two lists are, e.g. "images and captions".
        what: &'static str,
        /// Length of the first list.
        left: usize,
        /// Length of the second list.
        right: usize,
    },
    /// A grid of images with zero columns.
    #[error("an image grid needs at least one column; pass columns >= 1")]
    NoColumns,
    /// A class label with no class name.
    #[error("label {label} has no class name: there are {classes} class names, for the labels below {classes}; pass one name per class")]
    UnknownLabel {
        /// The label.
        label: u32,
        /// How many class names there are.
        classes: usize,
    },
    /// A heatmap's opacity outside [0, 1].
    #[error(
        "opacity {0} is outside 0 to 1: give --opacity (GradCam::opacity) a fraction such as 0.4"
    )]
    Opacity(f32),

    // ----- Grad-CAM -----
    /// The layer Grad-CAM was asked to explain is not one of the model's convolutions.
    #[error("{layer} is not a convolutional layer of {model} ({what}): Grad-CAM explains a convolution's output, so give --layer (GradCam::new) one of {} ({default}, the last, is the usual choice)", convolutions.join(", "))]
    NotConvolutional {
        /// The model, in words.
        model: String,
        /// The name asked for.
        layer: String,
        /// What that name is in the model, e.g. "a MaxPooling2D layer".
        what: String,
        /// The model's convolutional layers.
        convolutions: Vec<String>,
        /// The layer Grad-CAM explains by default in this model.
        default: String,
    },
    /// The model does not end in the class scores that Grad-CAM explains.
    #[error("{model} does not end in a Dense layer of class scores, so Grad-CAM has nothing to explain: use a network with its top (include_top, with the weights that have the top) or a trained cat/dog model")]
    NoScores {
        /// The model, in words.
        model: String,
    },
    /// A class index outside the model's classes.
    #[error("class index {class} is out of range: {model} has {classes} classes, so give --class (Target::Class) an index from 0 to {}{}", classes - 1, if *classes == 2 { " (0 is cat, 1 is dog)" } else { "" })]
    Class {
        /// The model, in words.
        model: String,
        /// The index asked for.
        class: usize,
        /// How many classes the model tells apart.
        classes: usize,
    },

    // ----- libtorch -----
    /// libtorch refused an operation; the message is libtorch's own.
    #[error("libtorch: {}", torch_message(.0))]
    Torch(#[from] tch::TchError),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// libtorch's own words: without tch's "Internal torch error: " prefix and without the C++ stack
/// that libtorch appends after "Exception raised from".
fn torch_message(error: &tch::TchError) -> String {
    match error {
        tch::TchError::Torch(message) => message
            .split("\nException raised from")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        other => other.to_string(),
    }
}

/// A shape as `(a, b, c)`, or `(a,)` for one axis, like Python prints tuples.
pub(crate) fn fmt_shape(shape: &[i64]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Shorthands that name the path.
impl Error {
    /// An operating-system error with the action that failed and the path.
    pub fn io(what: &'static str, path: &Path, reason: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.to_path_buf(),
            reason,
        }
    }

    /// A file or folder that could not be read.
    pub(crate) fn read(path: &Path, reason: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            reason,
        }
    }

    /// A file that could not be written.
    pub(crate) fn write(path: &Path, reason: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            reason,
        }
    }

    /// A file or folder that is not what was expected, with what to do.
    pub(crate) fn invalid(path: &Path, why: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }

    /// An image file that cannot be decoded.
    pub(crate) fn not_an_image(path: &Path, why: impl Into<String>) -> Self {
        Error::NotAnImage {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

/// What is wrong with an augmentation argument ([`Error::Augmentation`]): each says what to write
/// instead.
#[derive(Debug, thiserror::Error)]
pub enum AugmentProblem {
    /// Not a number.
    #[error("is not a number: write a number, such as 0.2")]
    NotANumber,
    /// Not a boolean.
    #[error("is not True or False: write True or False")]
    NotABoolean,
    /// No `=value`.
    #[error("has no value: write name=value, such as rotation_range=40 (or classic)")]
    NoValue,
    /// Not a `[lower,upper]` pair.
    #[error("needs two values, a lower and an upper factor: write it like [0.5,1.5]")]
    NotAPair,
    /// Neither one number nor a pair.
    #[error("needs one number or two values: write it like 0.2 or [0.8,1.2]")]
    NotOneOrTwo,
    /// A negative number of pixels.
    #[error("is negative: give a number of pixels of 0 or more, such as 10")]
    NegativePixels,
    /// A list of choices that holds a value that is not finite.
    #[error("holds {0}, which is not a finite number: list shifts such as [-10,0,10]")]
    ChoiceNotFinite(f64),
    /// A range that is not finite; an example of a good one.
    #[error("is not a finite number: give a range of 0 or more, such as {0}")]
    NotFinite(&'static str),
    /// A negative range; an example of a good one.
    #[error("is negative: give a range of 0 or more, such as {0}")]
    Negative(&'static str),
    /// A zoom range above 1, which would give negative zoom factors.
    #[error("gives zoom factors below 0 (1 minus the range): give at most 1, such as 0.2")]
    ZoomAboveOne,
    /// A pair with a value that is not finite; an example of a good one.
    #[error("is not a pair of finite numbers: write it like {0}")]
    PairNotFinite(&'static str),
    /// A pair that goes below 0; an example of a good one.
    #[error("goes below 0: give factors of 0 or more, such as {0}")]
    PairBelowZero(&'static str),
    /// A fill value (`cval`) that is not finite.
    #[error("is not a finite number: give the fill value, such as 0")]
    CvalNotFinite,
    /// A transform parameter that is not finite.
    #[error("is {0}, not a finite number: give a number, such as 0")]
    ParameterNotFinite(f64),
    /// Text that is not Keras's parameter dictionary in JSON; the JSON reader's reason.
    #[error("is not Keras's parameter dictionary in JSON ({0}): write it like {{\"theta\": 30, \"tx\": 5, \"flip_horizontal\": true}}")]
    NotParameters(String),
    /// A shape that is not an image's (height, width, channels).
    #[error("takes an image shape (height, width, channels), not {0:?}")]
    NotAnImageShape(Vec<usize>),
    /// A number of augmentations to show outside 1 to the most a grid shows.
    #[error("cannot be shown: ask for 1 to {0}, such as 8")]
    CannotShow(usize),
    /// A pair whose lower bound is above its upper bound.
    #[error("is in the wrong order: write the lower bound first, as [{upper}, {lower}]")]
    PairWrongOrder {
        /// The first value given.
        lower: f64,
        /// The second value given.
        upper: f64,
    },
}
