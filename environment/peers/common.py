"""What the peer scripts share: the command line, thread settings, the one JSON line of output.

Every peer measurement is one process: `python PEER.py WHAT [options]`, printing its result as
the last line of stdout, a JSON object with at least `images` and `seconds`. A peer whose
framework cannot be imported prints `{"skipped": "<why>"}` and exits with SKIPPED, so that the
harness notes it and goes on.
"""

import argparse
import json
import os
import sys
import time

SKIPPED = 3

# The classic cats-vs-dogs augmentation, as ImageDataGenerator's arguments.
CLASSIC_AUGMENTATION = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                            shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
                            fill_mode="nearest")
# Keras's VGG16 preprocess_input ('caffe'): BGR, minus ImageNet's mean pixel.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TARGET_SIZE = (224, 224)
# The backbones of (b), with ours' names (`catsdogs bench forward --model`).
BACKBONES = ("vgg16", "vgg19", "resnet50", "mobilenet_v2")
# Block 5 of torchvision's vgg16().features starts at this index (block5_conv1).
TORCH_BLOCK5 = 24
# The tutorial's learning rates.
LEARNING_RATES = {"frozen": 2e-5, "finetune": 1e-5}


def parser(description):
    """The peers' shared command line: decode, forward, gradcam, epoch and cached, with ours'
    option names."""
    p = argparse.ArgumentParser(description=description)
    sub = p.add_subparsers(dest="what", required=True)
    decode = sub.add_parser("decode", help="time load_img-style decode + resize to 224x224")
    decode.add_argument("--files", required=True, help="text file, one image path per line")
    decode.add_argument("--threads", type=int, default=1)
    forward = sub.add_parser("forward", help="time a backbone's conv base on random batches")
    forward.add_argument("--model", choices=BACKBONES, default="vgg16",
                         help="the backbone, include_top=False (default vgg16)")
    forward.add_argument("--batch", type=int, default=50)
    forward.add_argument("--iterations", type=int, default=5)
    forward.add_argument("--threads", type=int, default=1)
    forward.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    numbers(forward)
    gradcam = sub.add_parser("gradcam", help="time Grad-CAM at block5_conv3 beside the forward pass")
    gradcam.add_argument("--batch", type=int, default=1)
    gradcam.add_argument("--iterations", type=int, default=5)
    gradcam.add_argument("--threads", type=int, default=1)
    gradcam.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    augment = sub.add_parser("augment", help="time augmented epochs of flow_from_directory, the "
                             "classic setting, preprocessed for VGG16")
    augment.add_argument("--data", required=True, help="a folder of class folders")
    augment.add_argument("--batch", type=int, default=32)
    augment.add_argument("--epochs", type=int, default=1, help="timed epochs, after an untimed one")
    augment.add_argument("--images", type=int,
                         help="cut each epoch short after the batch that reaches this many images")
    augment.add_argument("--threads", type=int, default=1)
    epoch = sub.add_parser("epoch", help="time epochs of the tutorial's training, end to end")
    epoch.add_argument("--phase", choices=["frozen", "finetune"], required=True)
    cached = sub.add_parser("cached", help="time fine-tune epochs on block4 output computed "
                            "once (untimed), as ours' feature cache keeps it")
    for command in (epoch, cached):
        command.add_argument("--data", required=True, help="folder with train/ and validation/")
        command.add_argument("--epochs", type=int, default=1)
        command.add_argument("--batch", type=int, default=50)
        command.add_argument("--threads", type=int, default=1)
        command.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
        numbers(command)
    return p


def numbers(p):
    """How a peer computes: float32 or bfloat16 (each framework's own mixed precision), and the
    memory layout of the convolutions (PyTorch only; TensorFlow is NHWC)."""
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--layout", choices=["nchw", "nhwc"], default="nchw")


def limit_threads(threads):
    """Caps the math libraries' thread pools before any of them starts."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def read_files(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def skip(why):
    """Ends the process with the 'skipped' result."""
    print(json.dumps({"skipped": why}), flush=True)
    sys.exit(SKIPPED)


def report(result):
    """Prints the result line."""
    result["images_per_second"] = result["images"] / max(result["seconds"], 1e-12)
    print(json.dumps(result), flush=True)


def report_epochs(args, images, epoch_seconds, metrics, device):
    """Prints the result line of an epoch measurement: its images, the epochs' times, the last
    epoch's metrics, and the settings."""
    report({"images": images, "seconds": sum(epoch_seconds), "epoch_seconds": epoch_seconds,
            **metrics, "threads": args.threads, "batch": args.batch, "device": device})


def timed_twice(work):
    """Runs work() untimed, then timed; returns the timed seconds."""
    work()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def in_pool(threads, initializer, function, items):
    """Maps function over items in this process (threads == 1) or a pool of processes (the way
    Python parallelises Pillow: DataLoader workers, multiprocessing), warm then timed.
    Returns the timed seconds."""
    if threads == 1:
        initializer()
        return timed_twice(lambda: [function(item) for item in items])
    import multiprocessing

    chunk = max(1, len(items) // (threads * 8))
    with multiprocessing.get_context("fork").Pool(threads, initializer=initializer) as pool:
        return timed_twice(lambda: pool.map(function, items, chunksize=chunk))
