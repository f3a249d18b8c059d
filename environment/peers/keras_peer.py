"""The Keras peer: load_img (Pillow), Keras/TensorFlow conv bases (VGG16, VGG19, ResNet50,
MobileNetV2), and the tutorial's training as the tutorial writes it
(ImageDataGenerator.flow_from_directory + fit).

    python keras_peer.py decode  --files LIST --threads N
    python keras_peer.py augment --data DIR --batch B --epochs E --threads N
    python keras_peer.py forward --model NAME --batch B --iterations K --threads N
    python keras_peer.py epoch   --data DIR --phase frozen|finetune --epochs E --threads N

Without Keras, `decode` still measures Pillow doing what load_img does (open, convert('RGB'),
resize NEAREST), and says so; `forward` and `epoch` are skipped.
"""

import io
import os
import time

import common


def import_keras(threads, backend="tensorflow"):
    """Keras on `backend`, with TensorFlow's thread pools capped at `threads` (its default on a
    machine of that many cores); skips the measurement when Keras cannot be imported."""
    keras, why = try_import_keras(threads, backend)
    if keras is None:
        common.skip(why)
    return keras


def try_import_keras(threads, backend):
    """(keras, None), or (None, why not)."""
    common.limit_threads(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = backend
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras
    except ImportError as e:
        return None, f"Keras/TensorFlow is not installed ({e})"
    return keras, None


def image_data_generator(keras):
    """Keras's ImageDataGenerator: public in Keras 2, kept (unexported) under legacy in Keras 3."""
    try:
        return keras.preprocessing.image.ImageDataGenerator
    except AttributeError:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        return ImageDataGenerator


def decode(args):
    global LOAD_IMG
    files = common.read_files(args.files)
    # load_img is Pillow whatever the backend; torch's imports faster than TensorFlow's and
    # starts no thread pools before the worker processes fork.
    keras, _ = try_import_keras(args.threads, backend="torch")
    if keras is not None:
        LOAD_IMG, what = keras.utils.load_img, f"keras {keras.__version__} load_img"
    else:
        LOAD_IMG, what = pillow_load_img, "Pillow as load_img calls it (Keras not installed)"
    from PIL import Image

    seconds = common.in_pool(args.threads, lambda: None, load_one, files)
    result = {"images": len(files), "seconds": seconds, "threads": args.threads, "what": what}
    result["pillow"] = Image.__version__
    common.report(result)


# The load_img that load_one calls, set by decode (a global, so that pool workers inherit it).
LOAD_IMG = None


def load_one(path):
    return LOAD_IMG(path, target_size=common.TARGET_SIZE)


def pillow_load_img(path, target_size):
    """The Pillow calls of Keras's load_img(path, target_size), for machines without Keras."""
    from PIL import Image

    with open(path, "rb") as f:
        image = Image.open(io.BytesIO(f.read()))
        image = image.convert("RGB") if image.mode != "RGB" else image
        width_height = (target_size[1], target_size[0])
        return image.resize(width_height, Image.NEAREST) if image.size != width_height else image


def augment(args):
    """The classic augmentation as the tutorial's readers run it: ImageDataGenerator's
    flow_from_directory, which loads, transforms (scipy) and preprocesses every image of every
    epoch. Several threads are a pool of processes, each computing whole batches, as Keras's
    PyDataset workers do."""
    global FLOW
    # The flow is NumPy, scipy and Pillow whatever the backend; torch's starts no thread pools
    # before the worker processes fork.
    keras = import_keras(args.threads, backend="torch")
    from keras.applications.vgg16 import preprocess_input

    datagen = image_data_generator(keras)(preprocessing_function=preprocess_input,
                                          **common.CLASSIC_AUGMENTATION)
    FLOW = datagen.flow_from_directory(args.data, target_size=common.TARGET_SIZE,
                                       batch_size=args.batch, class_mode="binary")
    # The batches of an epoch, cut short after the one that reaches --images images.
    wanted = min(args.images or FLOW.samples, FLOW.samples)
    count = -(-wanted // args.batch)
    images = sum(min(args.batch, FLOW.samples - i * args.batch) for i in range(count))
    # common.in_pool runs the list once untimed, then once timed: the timed pass is `epochs`
    # epochs of batches.
    batches = list(range(count)) * args.epochs
    seconds = common.in_pool(args.threads, lambda: None, one_batch, batches)
    common.report({"images": images * args.epochs, "seconds": seconds,
                   "threads": args.threads, "batch": args.batch, "epochs": args.epochs,
                   "what": f"keras {keras.__version__} ImageDataGenerator flow_from_directory"})


# The flow that one_batch reads, set by augment (a global, so that pool workers inherit it).
FLOW = None


def one_batch(index):
    """Computes batch `index` of FLOW and drops it (returning it would time the pickling)."""
    FLOW[index]


# keras.applications' constructor of each backbone, by ours' names.
APPLICATIONS = {"vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50",
                "mobilenet_v2": "MobileNetV2"}


def application(keras, name="vgg16"):
    """keras.applications' `name`, include_top=False, random weights, 224x224x3 input."""
    constructor = getattr(keras.applications, APPLICATIONS[name])
    return constructor(weights=None, include_top=False, input_shape=(224, 224, 3))


def tf_device(args):
    """'cuda' or 'cpu': where TensorFlow runs, as asked and as it can."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if args.device == "cuda" and not gpus:
        common.skip("TensorFlow sees no GPU (the tensorflow-cpu build, or no CUDA)")
    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    return "cuda" if gpus and args.device != "cpu" else "cpu"


def mixed_precision(keras, args):
    """Keras's own mixed precision for --precision bf16: the `mixed_bfloat16` policy (float32
    variables, bfloat16 compute)."""
    if args.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")


def forward(args):
    keras = import_keras(args.threads)
    device = tf_device(args)
    mixed_precision(keras, args)
    import numpy as np

    keras.utils.set_random_seed(0)
    model = application(keras, args.model)
    x = np.random.default_rng(0).standard_normal((args.batch, 224, 224, 3), dtype=np.float32)

    def run(count):
        start = time.perf_counter()
        for _ in range(count):
            model.predict_on_batch(x)
        return time.perf_counter() - start

    run(1)
    seconds = run(args.iterations)
    result = {"images": args.batch * args.iterations, "seconds": seconds}
    result.update(threads=args.threads, batch=args.batch, device=device,
                  compute=f"{args.precision}-nhwc", model=args.model)
    common.report(result)


def epoch(args):
    keras = import_keras(args.threads)
    device = tf_device(args)
    mixed_precision(keras, args)
    from keras import layers, models, optimizers
    from keras.applications.vgg16 import preprocess_input

    keras.utils.set_random_seed(0)
    datagen = image_data_generator(keras)(preprocessing_function=preprocess_input)
    flows = {
        split: datagen.flow_from_directory(
            f"{args.data}/{split}",
            target_size=common.TARGET_SIZE,
            batch_size=args.batch,
            class_mode="binary",
        )
        for split in ("train", "validation")
    }
    conv_base = application(keras)
    model = models.Sequential(
        [
            conv_base,
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(256, activation="relu"),
            # The probability in float32, as Keras's mixed-precision guide has it.
            layers.Dense(1, activation="sigmoid", dtype="float32"),
        ]
    )
    if args.phase == "frozen":
        conv_base.trainable = False
    else:
        conv_base.trainable = True
        trainable = False
        for layer in conv_base.layers:
            trainable = trainable or layer.name == "block5_conv1"
            layer.trainable = trainable
    model.compile(
        optimizer=optimizers.RMSprop(learning_rate=common.LEARNING_RATES[args.phase]),
        loss="binary_crossentropy",
        metrics=["acc"],
    )
    epoch_seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.start)

    history = model.fit(
        flows["train"],
        epochs=args.epochs,
        validation_data=flows["validation"],
        verbose=2,
        callbacks=[Timer()],
    )
    common.report_epochs(args, flows["train"].samples * args.epochs, epoch_seconds,
                         {k: float(v[-1]) for k, v in history.history.items()}, device)


def main():
    args = common.parser(__doc__).parse_args()
    {"decode": decode, "augment": augment, "forward": forward, "epoch": epoch}[args.what](args)


if __name__ == "__main__":
    main()
