"""The benchmark harness behind environment/bench and environment/gpu-run.

It makes the images with `catsdogs sample` and `catsdogs split`, runs every measurement as its
own process (ours: `catsdogs bench ...`; the peers: torch_peer.py and keras_peer.py beside this
file), samples each process tree's memory while it runs, and then prints one table, writes it
as JSON and rewrites the matching results section of BENCHMARKS.md.

Every measurement prints its result as the last line of its stdout, a JSON object with `images`
and `seconds` (the timed work); the harness adds the process's wall-clock time and its peak
memory: the larger of its peak RSS (from wait4) and the peak sum of PSS over the process and its
children (sampled every 0.1 s; DataLoader workers and Pool processes count once each), and on
CUDA the peak GPU memory in use (nvidia-smi, every 0.1 s, less what was in use before).
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The backbones of (b), by ours' names, as the table titles them.
BACKBONES = {"vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50",
             "mobilenet_v2": "MobileNetV2"}
SKIPPED = 3  # the peers' exit status for "framework not installed" (see common.py)
SECTION = "<!-- bench:{}:{} -->"
# cached and uncached training may differ by float rounding only (cuDNN picks algorithms per
# batch shape; TF32 on the GPU): this bounds every metric's difference.
SAME_TOLERANCE = 1e-3
# CPU and GPU forward passes: cuDNN convolutions use TF32 by default, about 1e-3 relative.
AGREE_TOLERANCE = 1e-2


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--catsdogs", help="the release binary of catsdogs")
    p.add_argument("--python", default=sys.executable, help="the python that runs the peers")
    p.add_argument("--work", help="folder for the generated images and runs")
    p.add_argument("--out", help="folder for bench.json and the logs")
    p.add_argument("--markdown", help="BENCHMARKS.md, whose results section is rewritten (a "
                   "file that does not exist gets the section alone)")
    p.add_argument("--quick", action="store_true", help="small sizes, to try the harness")
    p.add_argument("--images", type=int, help="images decoded in (a) (2000; quick 200)")
    p.add_argument("--train", type=int, help="training images in (c) (60; quick 20)")
    p.add_argument("--validation", type=int, help="validation images in (c) (a quarter of --train)")
    p.add_argument("--test", type=int, default=0, help="test images of the split used in (c)")
    p.add_argument("--epochs", type=int, default=3,
                   help="epochs of each row in (c), the tutorial's two experiments (3); the "
                   "30 epochs are derived from them, or measured with --epochs 30")
    p.add_argument("--batch", type=int, default=50, help="batch size of (c)")
    p.add_argument("--forward-batch", type=int,
                   help="batch of (b) (8 on the CPU, quick 4; 50 on CUDA)")
    p.add_argument("--forward-iterations", type=int,
                   help="timed batches of (b) (6 on the CPU, quick 2; 20 on CUDA)")
    p.add_argument("--backbones", default="vgg16,resnet50,mobilenet_v2",
                   help="conv bases timed in (b), include_top=False, random weights, each "
                   "with (b)'s batch and timed batches (VGG16, ResNet50 and MobileNetV2, so "
                   "that the default run fits 15 minutes on 2 cores; vgg19 too on request; "
                   "only VGG16 gets every precision and layout)")
    p.add_argument("--threads", type=int, help="threads for 'all cores' (the usable cores)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--augment-epochs", type=int,
                   help="timed epochs of (e), after an untimed one (3; quick 1)")
    p.add_argument("--augment-images", type=int,
                   help="images of each epoch of (e) (all the training images)")
    p.add_argument("--parts", default="checks,b,a,e,c",
                   help="which parts, in this order: checks, a, b, e, c")
    p.add_argument("--budget", type=float, default=math.inf,
                   help="seconds for the whole run; steps that no longer fit are skipped")
    p.add_argument("--step-timeout", type=float, default=1800, help="seconds for one step")
    p.add_argument("--render", metavar="BENCH_JSON",
                   help="only rewrite --markdown from an existing bench.json")
    args = p.parse_args()
    if not args.render and not (args.catsdogs and args.work and args.out):
        p.error("--catsdogs, --work and --out are needed, unless --render")
    args.backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    unknown = [b for b in args.backbones if b not in BACKBONES]
    if unknown:
        p.error(f"--backbones: unknown {', '.join(unknown)} (known: {', '.join(BACKBONES)})")
    args.images = args.images or (200 if args.quick else 2000)
    args.augment_epochs = args.augment_epochs or (1 if args.quick else 3)
    # Even counts, so that the split gives both classes the same number of images.
    args.train = 2 * math.ceil((args.train or (20 if args.quick else 60)) / 2)
    args.validation = 2 * math.ceil((args.validation or max(2, args.train // 4)) / 2)
    args.test = 2 * math.ceil(args.test / 2)
    args.augment_images = min(args.augment_images or args.train, args.train)
    return args


class Harness:
    def __init__(self, args):
        self.args = args
        self.start = time.monotonic()
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.cores = len(os.sched_getaffinity(0))
        self.threads = args.threads or self.cores
        self.results = []
        self.checks = []
        self.device = self.resolve_device()
        # What ours' `auto` picks here: bf16 where the hardware has it, else fp32.
        auto = re.search(r"auto precision: (\S+)", self.catsdogs("device"))
        self.bf16 = bool(auto) and auto.group(1).startswith("bf16")
        cuda = self.device == "cuda"
        self.forward_batch = args.forward_batch or (50 if cuda else 4 if args.quick else 8)
        self.backbones = args.backbones
        self.forward_iterations = args.forward_iterations or (
            20 if cuda else 2 if args.quick else 6)

    # ----- running one measurement -------------------------------------------------------

    def left(self):
        return self.args.budget - (time.monotonic() - self.start)

    def measure(self, part, name, cmd, threads, group, prepare=None):
        """Runs one measurement process and records its row. The first row of each group that
        runs ours is the reference of the group's ratios."""
        row = {"part": part, "name": name, "threads": threads, "device": self.device,
               "group": group, "ours": cmd[0] == self.args.catsdogs, "status": "ok", "note": ""}
        self.results.append(row)
        timeout = min(self.args.step_timeout, self.left())
        if timeout < 15:
            row.update(status="skipped", note="out of the time budget")
            print(f"  {name}: skipped (out of the time budget)", flush=True)
            return row
        if prepare:
            prepare()
        log = self.logs / f"{len(self.results):02d}-{re.sub(r'[^A-Za-z0-9]+', '-', name)}.log"
        child_env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
            child_env[var] = str(threads)
        child_env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        if self.device == "cpu":
            child_env["CATSDOGS_DEVICE"] = "cpu"
        print(f"  {name} ({threads} thread{'s' if threads > 1 else ''}) ...", end="", flush=True)
        with open(log, "w") as out:
            outcome = run_sampled(cmd, child_env, out, timeout, self.device == "cuda")
        row.update(wall_seconds=outcome["wall"], peak_ram_mb=outcome["ram_mb"],
                   peak_gpu_mb=outcome["gpu_mb"], log=str(log))
        result = last_json(log)
        if outcome["timed_out"]:
            row.update(status="timeout", note=f"stopped after {timeout:.0f} s")
        elif outcome["status"] == SKIPPED and result and "skipped" in result:
            row.update(status="skipped", note=result["skipped"])
        elif outcome["status"] != 0 or not result:
            row.update(status="failed", note=f"exit {outcome['status']}; {tail(log)}")
        else:
            row.update({k: v for k, v in result.items() if k not in row or k == "device"})
            row["note"] = result.get("what", "")
            if part == "c":  # end to end: the whole process counts
                row["images_per_second"] = row["images"] / row["wall_seconds"]
        print(f" {row['status']} {summary(row)}", flush=True)
        return row

    # ----- the data ----------------------------------------------------------------------

    def sample_split(self, name, total, train=None, validation=None, test=0):
        """A Kaggle-size synthetic sample of `total` images, split; returns the split folder."""
        folder = self.work / name
        # Beside the split, not in it: a split refuses an output folder that holds its input.
        zip_path = self.work / f"{name}.zip"
        per_class = (total + 1) // 2
        stamp = folder / "sample.json"
        wanted = {"per_class": per_class, "train": train, "validation": validation, "test": test}
        if stamp.exists() and json.loads(stamp.read_text()) == wanted:
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"Making {2 * per_class} synthetic Kaggle-size images in {folder}", flush=True)
        self.catsdogs("sample", "--kaggle-sizes", "--force", "--per-class", per_class, zip_path)
        if train is None:
            self.catsdogs("split", zip_path, folder, "--all", "--validation", 2)
        elif test:
            self.catsdogs("split", zip_path, folder, "--train", train, "--validation", validation,
                          "--test", test)
        else:
            self.catsdogs("split", zip_path, folder, "--all", "--validation", validation)
        zip_path.unlink()
        # `split --all` leaves empty test/ class folders, which training would refuse.
        test_dir = folder / "test"
        if test_dir.is_dir() and not any(p.is_file() for p in test_dir.rglob("*")):
            shutil.rmtree(test_dir)
        stamp.write_text(json.dumps(wanted))
        return folder

    def catsdogs(self, *args):
        return run_catsdogs(self.args.catsdogs, args, "harness")

    def resolve_device(self):
        if self.args.device != "auto":
            return self.args.device
        return "cuda" if self.catsdogs("device").startswith("CUDA") else "cpu"

    # ----- the parts ---------------------------------------------------------------------

    def run(self):
        a = self.args
        print(f"Device: {self.catsdogs('device').strip()}; all cores = {self.threads} threads")
        split = self.sample_split(
            f"split-{a.train}-{a.validation}-{a.test}", a.train + a.validation + a.test,
            a.train, a.validation, a.test)
        images = sorted(str(p) for p in split.glob("*/*/*.jpg"))
        if len(images) < a.images:
            decode_set = self.sample_split(f"decode-{a.images}", a.images)
            images = sorted(str(p) for p in decode_set.glob("*/*/*.jpg"))
        files = self.out / "decode-files.txt"
        files.write_text("\n".join(images[: a.images]) + "\n")
        self.settings = {
            "images_decoded": min(a.images, len(images)), "train": a.train,
            "validation": a.validation, "test": a.test, "epochs": a.epochs,
            "batch": a.batch,
            "forward_batch": self.forward_batch, "forward_iterations": self.forward_iterations,
            "backbones": self.backbones, "augment_epochs": a.augment_epochs,
            "augment_images": a.augment_images,
            "threads": self.threads, "device": self.device, "quick": a.quick,
        }
        for part in [p.strip() for p in a.parts.split(",") if p.strip()]:
            {"checks": self.part_checks, "a": lambda: self.part_decode(files),
             "b": self.part_forward, "e": lambda: self.part_augment(split),
             "c": lambda: self.part_epochs(split)}[part]()

    def part_checks(self):
        if self.device != "cuda":
            return
        print("Checks: CPU and GPU forward agree")
        row = self.measure("checks", "ours: CPU vs GPU forward", self.ours("agree"), 1, "agree")
        if row["status"] == "ok":
            ok = row["relative"] < AGREE_TOLERANCE
            self.check("CPU and GPU forward agree", ok,
                       f"max |difference| {row['max_abs_diff']:.3g} on outputs up to "
                       f"{row['max_abs']:.3g} (relative {row['relative']:.2g}; "
                       f"tolerance {AGREE_TOLERANCE:g}, cuDNN uses TF32)")
        else:
            self.check("CPU and GPU forward agree", False, row["note"])

    def part_decode(self, files):
        print(f"(a) decode + resize to 224x224, {self.settings['images_decoded']} JPEGs")
        for threads in sorted({1, self.threads}):
            group = f"a{threads}"
            f = ["--files", files, "--threads", threads]
            row = self.measure("a", "ours (load_img, libjpeg-turbo)", self.ours("decode", *f),
                               threads, group)
            if row["status"] == "ok" and "hash_seconds" in row:
                row["note"] = (f"the cache's content key (read + XXH3-128) adds "
                               f"{row['hash_seconds'] / row['images'] * 1e6:.0f} µs an image, "
                               f"{100 * row['hash_seconds'] / row['seconds']:.1f}% of a decode")
            self.measure("a", "Keras load_img (Pillow)", self.peer("keras", "decode", *f),
                         threads, group)
            self.measure("a", "torchvision decode_jpeg", self.peer("torch", "decode", *f),
                         threads, group)

    def part_augment(self, split):
        a = self.args
        train = split / "train"
        print(f"(e) augmentation, the classic setting, {a.augment_images} training images at "
              f"224x224, batch {a.batch}, {a.augment_epochs} timed epoch(s) after an untimed one")
        for threads in sorted({1, self.threads}):
            f = ["--data", train, "--batch", a.batch, "--epochs", a.augment_epochs,
                 "--images", a.augment_images, "--threads", threads]
            self.measure("e", "ours (from the decoded-image cache)", self.ours("augment", *f),
                         threads, f"e{threads}")
            self.measure("e", "Keras ImageDataGenerator flow (load_img + scipy)",
                         self.peer("keras", "augment", *f), threads, f"e{threads}")

    def numbers(self):
        """The (precision, layout) pairs measured: ours' `auto` first (bf16 NHWC where the
        hardware has bf16, else fp32: NHWC on the CPU, NCHW on CUDA), the reference of the
        ratios, then the others."""
        pairs = [("fp32", "nhwc"), ("fp32", "nchw")]
        if self.device == "cuda":
            pairs.reverse()
        if self.bf16:
            pairs = [("bf16", "nhwc"), ("bf16", "nchw")] + pairs
        return pairs

    def bf16_skipped(self, part, name, group):
        self.results.append({"part": part, "name": name, "threads": self.threads,
                             "device": self.device, "group": group, "ours": False,
                             "status": "skipped", "note": "no bf16 hardware here"})

    def auto_layouts(self):
        """One (precision, layout) pair a precision, in the layout ours' auto and defaults
        pick for it: the fast path's bf16 first where the hardware has it, then fp32."""
        first = {}
        for precision, layout in self.numbers():
            first.setdefault(precision, (precision, layout))
        return list(first.values())

    def part_forward(self):
        b, n = self.forward_batch, self.forward_iterations
        for backbone in self.backbones:
            self.forward_backbone(backbone, b, n)
        print(f"(b) Grad-CAM at block5_conv3 of the cat/dog model, one 224x224 image, {n} timed, "
              "beside the same model's forward pass, fp32")
        g = ["--batch", 1, "--iterations", n, "--threads", self.threads, "--device", self.device]
        for name, cmd in [("ours (tch): Grad-CAM, fp32", self.ours("gradcam", *g)),
                          ("PyTorch eager: Grad-CAM, fp32", self.peer("torch", "gradcam", *g))]:
            row = self.measure("b", name, cmd, self.threads, "b-gradcam")
            if row["status"] == "ok":
                row["note"] = (f"{row['grad_cam_over_forward']:.2f}x the same model's forward "
                               f"pass ({row['forward_seconds'] / n:.3f} s an image)")

    def forward_backbone(self, backbone, b, n):
        """(b)'s rows of one backbone, in their own group (the ratios compare against ours on
        the same backbone). VGG16, the tutorial's, gets every precision and layout; the others
        the fast path's bf16 and fp32 in the layouts auto picks, channels_last for PyTorch."""
        title, every = BACKBONES[backbone], backbone == "vgg16"
        group = "b" if every else f"b-{backbone}"
        print(f"(b) {title} conv base forward, batch {b}, {n} timed batches")
        f = ["--model", backbone, "--batch", b, "--iterations", n, "--threads", self.threads,
             "--device", self.device]
        ours = self.numbers() if every else self.auto_layouts()
        for i, (precision, layout) in enumerate(ours):
            what = f"{precision} {layout.upper()}" + (", auto" if i == 0 else "")
            nl = ["--precision", precision, "--layout", layout]
            self.measure("b", f"{title}: ours (tch), {what}", self.ours("forward", *f, *nl),
                         self.threads, group)
        for name, precision, cmd in self.forward_peers(f, every):
            if precision == "bf16" and not self.bf16:
                self.bf16_skipped("b", f"{title}: {name}", group)
            else:
                self.measure("b", f"{title}: {name}", cmd, self.threads, group)

    def forward_peers(self, f, every):
        """(name, precision, command) of the peers' (b) rows of one backbone: PyTorch eager
        (fp32 NCHW when `every`; fp32 and bf16 autocast channels_last) and Keras (fp32 and
        mixed_bfloat16)."""
        rows = []
        for precision, layout in ([("fp32", "nchw")] if every else []) + [("fp32", "nhwc"),
                                                                         ("bf16", "nhwc")]:
            autocast = " (autocast)" if precision == "bf16" else ""
            rows.append((f"PyTorch eager, {precision} {layout.upper()}{autocast}", precision,
                         self.peer("torch", "forward", *f, "--precision", precision,
                                   "--layout", layout)))
        for precision, policy in [("fp32", "fp32"), ("bf16", "mixed_bfloat16")]:
            rows.append((f"Keras (TensorFlow), {policy}", precision,
                         self.peer("keras", "forward", *f, "--precision", precision)))
        return rows

    def part_epochs(self, split):
        """(c): the tutorial's two experiments, each row a whole process of --epochs epochs
        from a cold start, and the 30 epochs derived from its first and later epochs."""
        a = self.args
        print(f"(c) the tutorial's experiments, {a.epochs} epoch(s) a row, {a.train} training + "
              f"{a.validation} validation images, batch {a.batch}, cold caches")
        auto = self.numbers()[0]
        for phase in ("frozen", "finetune"):
            group = f"c-{phase}"
            f = ["--data", split, "--epochs", a.epochs, "--batch", a.batch,
                 "--threads", self.threads, "--device", self.device]
            runs = {}
            # auto with caches (the reference), and without the feature cache (the same
            # numbers, as the check below asserts).
            for cache in ("on", "off"):
                run_dir = self.work / "runs" / f"{phase}-cache-{cache}"
                cmd = self.ours("epoch", "--experiment", phase, "--cache", cache, "--out", run_dir,
                                "--precision", auto[0], "--layout", auto[1], *f)
                label = "caches" if cache == "on" else "no feature cache"
                row = self.measure("c", f"{phase}: ours, {auto[0]} {auto[1].upper()}, auto, "
                                   f"{label}", cmd, self.threads, group,
                                   prepare=lambda d=run_dir: self.cold(split, d))
                self.derive_thirty(row)
                test = run_dir / "test_metrics.json"
                if row["status"] == "ok" and test.exists():
                    row.update(json.loads(test.read_text()))
                    row["note"] = (f"val_acc {row['val_acc']:.4f}, test_acc "
                                   f"{row['test_acc']:.4f} (synthetic images, random weights)")
                runs[cache] = run_dir / "history.json"
                if cache == "on":
                    self.second_run(row, cmd, run_dir, group)
            for name, precision, cmd in self.epoch_peers(phase, f):
                if precision == "bf16" and not self.bf16:
                    self.bf16_skipped("c", name, group)
                else:
                    self.derive_thirty(self.measure("c", name, cmd, self.threads, group))
            self.same_history(phase, runs["on"], runs["off"])
        self.cached_finetune(split)

    def epoch_peers(self, phase, f):
        """(name, precision, command) of the peers' rows of one experiment: the idiomatic
        PyTorch loop (fp32 NCHW, bf16 autocast channels_last) and Keras fit (fp32,
        mixed_bfloat16)."""
        rows = []
        for precision, layout in [("fp32", "nchw"), ("bf16", "nhwc")]:
            name = f"{phase}: PyTorch loop (ImageFolder + DataLoader), {precision} " \
                   f"{layout.upper()}" + (" (autocast)" if precision == "bf16" else "")
            rows.append((name, precision, self.peer("torch", "epoch", "--phase", phase, *f,
                                                    "--precision", precision, "--layout",
                                                    layout)))
        for precision, policy in [("fp32", "fp32"), ("bf16", "mixed_bfloat16")]:
            rows.append((f"{phase}: Keras fit (flow_from_directory), {policy}", precision,
                         self.peer("keras", "epoch", "--phase", phase, *f, "--precision",
                                   precision)))
        return rows

    def second_run(self, first, cmd, run_dir, group):
        """Ours run again as a new process (a new kernel, another notebook, the command line
        again) into another run folder, with the caches that the first run left on disk: its
        first epoch beside the first run's, which computed the features."""
        again = run_dir.with_name(run_dir.name + "-again")
        cmd = [str(again) if c == str(run_dir) else c for c in cmd]
        row = self.measure("c", first["name"] + ", second run (features on disk)", cmd,
                           self.threads, group,
                           prepare=lambda: shutil.rmtree(again, ignore_errors=True))
        self.derive_thirty(row)  # both first epochs counted the same way, from the process start
        if first["status"] == "ok" and row["status"] == "ok":
            for r in (first, row):
                first_epoch = (f"first epoch {r['first_epoch_seconds']:.1f} s after the start "
                               f"({r['before_first_epoch_seconds']:.1f} s before it)")
                r["note"] = f"{r['note']}; {first_epoch}" if r.get("note") else first_epoch
            row["note"] += (f"; the first run's: {first['first_epoch_seconds']:.1f} s, "
                            f"{first['first_epoch_seconds'] / row['first_epoch_seconds']:.1f}x")

    def cached_finetune(self, split):
        """The PyTorch loop's fine-tune epoch on cached block4 output (computed once, untimed),
        in the precision of ours' auto, beside ours' later fine-tune epochs (which read the
        feature cache's block4 output)."""
        a = self.args
        if a.epochs < 2:  # no later epoch to compare
            return
        precision, layout = self.numbers()[0]
        name = (f"finetune on cached block4 output: PyTorch loop, {precision} "
                f"{layout.upper()}" + (" (autocast)" if precision == "bf16" else ""))
        cmd = self.peer("torch", "cached", "--data", split, "--epochs", a.epochs, "--batch",
                        a.batch, "--threads", self.threads, "--device", self.device,
                        "--precision", precision, "--layout", layout)
        self.derive_thirty(self.measure("c", name, cmd, self.threads, "c-cached"))

    def derive_thirty(self, row):
        """Adds a row's first epoch (the process's wall time less its later epochs: start,
        decoding, model build, caches and the first epoch), the median of its later epochs,
        and the tutorial's 30 epochs: measured where the row ran 30, else first + 29 x later."""
        epochs = row.get("epoch_seconds") or []
        if row["status"] != "ok" or len(epochs) < 2:
            return
        later = epochs[1:]
        row["first_epoch_seconds"] = row["wall_seconds"] - sum(later)
        row["later_epoch_seconds"] = statistics.median(later)
        row["thirty_measured"] = len(epochs) == 30
        row["thirty_seconds"] = row["wall_seconds"] if len(epochs) == 30 else (
            row["first_epoch_seconds"] + 29 * row["later_epoch_seconds"])

    # ----- helpers -----------------------------------------------------------------------

    def ours(self, *args):
        return [self.args.catsdogs, "bench", *map(str, args)]

    def peer(self, which, *args):
        return [self.args.python, str(HERE / f"{which}_peer.py"), *map(str, args)]

    def cold(self, split, run_dir):
        """Deletes ours' caches (decoded images and features, beside the split's folders) and
        the run folder."""
        shutil.rmtree(split / ".catsdogs-cache", ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)

    def same_history(self, phase, cached, uncached):
        what = f"cached equals uncached ({phase}, {self.device})"
        if not (cached.exists() and uncached.exists()):
            self.check(what, False, "a run did not finish")
            return
        # Keras's History: {"epoch": [...], "history": {"loss": [...], ...}}.
        a, b = (json.loads(p.read_text())["history"] for p in (cached, uncached))
        keys = ("loss", "acc", "val_loss", "val_acc")
        diffs = [abs(x - y) for k in keys for x, y in zip(a[k], b[k])]
        worst = max(diffs, default=0.0)
        same_length = all(len(a[k]) == len(b[k]) for k in keys)
        self.check(what, same_length and worst <= SAME_TOLERANCE,
                   f"{len(a['loss'])} epoch(s); largest difference in loss/acc/val_loss/val_acc "
                   f"{worst:.3g} (tolerance {SAME_TOLERANCE:g})")

    def check(self, what, ok, detail):
        self.checks.append({"check": what, "ok": ok, "detail": detail})
        print(f"  check: {what}: {'PASS' if ok else 'FAIL'} ({detail})", flush=True)

    def ratios(self):
        """'ours is N x faster' for each row: the reference row of its group (the first, ours)
        divided by it, by throughput in (a)/(b) and by wall-clock time in (c), where the 30
        epochs compare too; the fine-tune epoch on cached block4 output compares with ours'
        later fine-tune epochs."""
        refs = {}
        for row in self.results:
            if row["status"] != "ok" or "seconds" not in row:
                continue
            if row["ours"]:
                refs.setdefault(row["group"], row)
            if row["group"] == "c-cached":
                ref = refs.get("c-finetune")
                if ref and "later_epoch_seconds" in ref and "later_epoch_seconds" in row:
                    row["ours_speedup"] = row["later_epoch_seconds"] / ref["later_epoch_seconds"]
                continue
            ref = refs.get(row["group"])
            if ref is None:
                continue
            if row["part"] in ("a", "b", "e"):
                row["ours_speedup"] = ref["images_per_second"] / row["images_per_second"]
            else:
                row["ours_speedup"] = row["wall_seconds"] / ref["wall_seconds"]
                if "thirty_seconds" in row and "thirty_seconds" in ref:
                    row["thirty_speedup"] = row["thirty_seconds"] / ref["thirty_seconds"]

    def report(self):
        self.ratios()
        data = {
            "machine": describe_machine(self.args, self.device, self.cores),
            "settings": self.settings,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": time.monotonic() - self.start,
            "results": self.results,
            "checks": self.checks,
        }
        path = self.out / "bench.json"
        path.write_text(json.dumps(data, indent=2) + "\n")
        print()
        print(render_text(data))
        print(f"Wrote {path}")
        return data


# ----- processes and memory ------------------------------------------------------------------


def run_sampled(cmd, env, out, timeout, cuda):
    """Runs cmd (stdout and stderr to `out`), sampling its tree's memory; returns wall seconds,
    exit status, peak RAM and GPU MB and whether it timed out."""
    gpu = GpuSampler() if cuda else None
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    peak_pss = 0
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak_pss = max(peak_pss, tree_pss(proc.pid))
        if time.monotonic() - start > timeout:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.1)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:  # workers the measurement left behind
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    ram = max(peak_pss, usage.ru_maxrss * 1024) / 2**20
    return {"wall": wall, "status": proc.returncode, "ram_mb": round(ram, 1),
            "gpu_mb": gpu.stop() if gpu else None, "timed_out": timed_out}


def tree_pss(pid):
    """Sum of PSS (or RSS where PSS is unreadable) over pid and its descendants, in bytes."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += memory_of(p)
        todo.extend(children_of(p))
    return total


def memory_of(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def run_catsdogs(binary, args, who):
    """Runs the catsdogs binary with `args`; its output, or the end of `who` (the script) with
    the command's error."""
    cmd = [binary, *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{who}: {' '.join(cmd)} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def children_of(pid):
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(k) for k in f.read().split())
        return kids
    except OSError:
        pass
    for entry in os.listdir("/proc"):  # no children files: scan every process's parent
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


class GpuSampler:
    """GPU memory in use, from nvidia-smi every 0.1 s, less what was in use before."""

    def __init__(self):
        self.peak = None
        self.base = gpu_used()
        self.proc = None
        if self.base is None:
            return
        self.peak = self.base
        self.proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0",
             "-lms", "100"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for line in self.proc.stdout:
            try:
                self.peak = max(self.peak, float(line.strip()))
            except ValueError:
                pass

    def stop(self):
        if self.proc is None:
            return None
        self.proc.terminate()
        self.proc.wait()
        self.thread.join(timeout=2)
        return self.peak - self.base


def gpu_used():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used",
                              "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=20)
        return float(out.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def last_json(log):
    for line in reversed(Path(log).read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def tail(log):
    lines = [l for l in Path(log).read_text(errors="replace").splitlines() if l.strip()]
    return lines[-1][:200] if lines else "no output"


# ----- the machine ---------------------------------------------------------------------------


def describe_machine(args, device, cores):
    cpu = "unknown CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = None
    try:
        kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
        ram = round(kb / 2**20, 1)
    except (OSError, StopIteration):
        pass
    gpu = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        gpu = out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    versions = {"catsdogs": run_text([args.catsdogs, "--version"])}
    probe = (
        "import json, platform, importlib\n"
        "v = {'python': platform.python_version()}\n"
        "for m in ['torch', 'torchvision', 'tensorflow', 'keras', 'PIL', 'numpy']:\n"
        "    try: v[m] = importlib.import_module(m).__version__\n"
        "    except Exception: v[m] = None\n"
        "print(json.dumps(v))\n"
    )
    env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3")
    peers = run_text([args.python, "-c", probe], env=env)
    try:
        versions.update(json.loads(peers.splitlines()[-1]))
    except (ValueError, IndexError):
        versions["peers"] = f"unreadable: {peers[:200]}"
    versions["rustc"] = run_text(["rustc", "--version"]) or None
    flags = []
    try:
        line = next(l for l in open("/proc/cpuinfo") if l.startswith("flags"))
        flags = [f for f in line.split(":", 1)[1].split()
                 if f in ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")]
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "cores_usable": cores,
        "ram_gib": ram, "gpu": gpu,
        "device": device, "os": platform.platform(), "versions": versions,
        "catsdogs_device": "; ".join(run_text([args.catsdogs, "device"]).splitlines()),
    }


def run_text(cmd, env=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              env=env).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# ----- the table ---------------------------------------------------------------------------

PART_TITLES = {
    "checks": "checks",
    "a": "(a) decode",
    "b": "(b) forward",
    "e": "(e) augment",
    "c": "(c) experiments",
}
COLUMNS = ["part", "implementation", "thr", "images", "time s", "wall s", "images/s",
           "ours is", "peak RAM MB", "peak GPU MB", "note"]


def summary(row):
    if row["status"] != "ok" or "seconds" not in row:
        return f"({row['note']})" if row["note"] else ""
    return f"{row['seconds']:.2f} s timed, {row['wall_seconds']:.1f} s wall"


def cells(row):
    ok = row["status"] == "ok" and "seconds" in row
    speed = row.get("ours_speedup")
    note = row["note"] if row["status"] == "ok" else f"{row['status'].upper()}: {row['note']}"
    gpu = row.get("peak_gpu_mb")
    return [
        PART_TITLES[row["part"]],
        row["name"],
        str(row["threads"]),
        str(row.get("images", "")) if ok else "",
        f"{row['seconds']:.2f}" if ok else "",
        f"{row['wall_seconds']:.1f}" if row.get("wall_seconds") is not None else "",
        f"{row['images_per_second']:.1f}" if ok and "images_per_second" in row else "",
        f"{speed:.2f}x" if speed else "",
        f"{row['peak_ram_mb']:.0f}" if row.get("peak_ram_mb") else "",
        f"{gpu:.0f}" if gpu is not None else "",
        note.replace("|", "/"),
    ]


def machine_lines(data):
    m, s, v = data["machine"], data["settings"], data["machine"]["versions"]
    gpu = m["gpu"] or "none"
    peers = ", ".join(f"{k} {v[k]}" for k in ("torch", "torchvision", "tensorflow", "keras", "PIL",
                                               "numpy", "python") if v.get(k))
    return [
        f"Machine: {m['cpu']} (flags: {' '.join(m.get('cpu_flags') or []) or 'none read'}), "
        f"{m['cores_usable']} usable cores of {m['cores']}, {m['ram_gib']} GiB RAM; GPU: {gpu}; "
        f"{m['os']}.",
        f"Ours: {v['catsdogs']} ({v.get('rustc') or 'rustc not on this machine'}); "
        f"libtorch device: {m['catsdogs_device']}.",
        f"Peers: {peers or 'none importable'}.",
        f"Settings: {s['threads']} threads for 'all cores'; (a) {s['images_decoded']} JPEGs; "
        f"(b) {', '.join(BACKBONES[b] for b in s.get('backbones', ['vgg16']))}, batch "
        f"{s['forward_batch']}, {s['forward_iterations']} timed batches; (c) "
        f"{s['epochs']} epoch(s) a row on {s['train']} training + {s['validation']} "
        f"validation images, batch {s['batch']}"
        + (f"; (e) the classic augmentation, {s['augment_epochs']} timed epoch(s) of "
           f"{s.get('augment_images', s['train'])} training images" if s.get("augment_epochs")
           else "") + ".",
        f"Run on {data['date']}, {data['seconds'] / 60:.1f} minutes in all.",
    ]


EXPERIMENT_TITLE = "The tutorial's experiments, 30 epochs"
EXPERIMENT_COLUMNS = ["experiment", "implementation", "epochs run", "first epoch s",
                      "later epochs s (median)", "30 epochs s", "ours is", "note"]
CACHED_TITLE = "A fine-tune epoch on cached block4 output"
CACHED_COLUMNS = ["implementation", "epoch s (median of the later)", "images/s", "ours is"]


def experiment_cells(row):
    """A (c) row in the 30-epoch table: its first epoch (start, decoding, model build, caches
    and the first epoch), the median of the later ones and the 30 epochs (derived as first +
    29 x later unless 30 were run)."""
    phase, name = row["name"].split(": ", 1)
    ok = "thirty_seconds" in row
    note = row["note"] if row["status"] == "ok" else f"{row['status'].upper()}: {row['note']}"
    speed = row.get("thirty_speedup")
    return [
        phase,
        name,
        str(len(row.get("epoch_seconds") or [])) if row["status"] == "ok" else "",
        f"{row['first_epoch_seconds']:.1f}" if ok else "",
        f"{row['later_epoch_seconds']:.2f}" if ok else "",
        (f"{row['thirty_seconds']:.0f}" + ("" if row["thirty_measured"] else " (derived)"))
        if ok else "",
        f"{speed:.2f}x" if speed else "",
        note.replace("|", "/"),
    ]


def cached_cells(row):
    later = row["later_epoch_seconds"]
    per_epoch = row["images"] / len(row["epoch_seconds"])
    speed = row.get("ours_speedup") if not row["ours"] else 1.0
    return [row["name"], f"{later:.2f}", f"{per_epoch / later:.1f}",
            f"{speed:.2f}x" if speed else ""]


def tables(results):
    """(title, columns, rows) of each table of a run: every measurement, the tutorial's
    experiments over 30 epochs, and the fine-tune epoch on cached block4 output."""
    c = [r for r in results if r["part"] == "c" and r["group"] != "c-cached"]
    cached = [r for r in results if r["group"] in ("c-finetune", "c-cached") and r["ours"]
              and "later_epoch_seconds" in r][:1]
    cached += [r for r in results if r["group"] == "c-cached" and "later_epoch_seconds" in r]
    found = [(None, COLUMNS, [cells(r) for r in results])]
    if c:
        found.append((EXPERIMENT_TITLE, EXPERIMENT_COLUMNS, [experiment_cells(r) for r in c]))
    if len(cached) > 1:
        found.append((CACHED_TITLE, CACHED_COLUMNS, [cached_cells(r) for r in cached]))
    return found


def render_text(data):
    lines = machine_lines(data)
    for title, columns, rows in tables(data["results"]):
        rows = [columns] + rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
        lines += [""] + ([f"{title}:"] if title else [])
        for r in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for c in data["checks"]:
        lines.append(f"check: {c['check']}: {'PASS' if c['ok'] else 'FAIL'} ({c['detail']})")
    return "\n".join(lines)


def render_markdown(data, results, checks):
    lines = [f"- {l}" for l in machine_lines(data)]
    for title, columns, rows in tables(results):
        lines += [""] + ([f"### {title}", ""] if title else [])
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    if checks:
        lines.append("")
        for c in checks:
            lines.append(f"- Check, {c['check']}: **{'pass' if c['ok'] else 'FAIL'}** "
                         f"({c['detail']}).")
    return "\n".join(lines)


# The sections of a device's results in BENCHMARKS.md, by the suffix of their markers: the
# augmentation rows (e) have their own, so that a run of (e) alone leaves the others as they are.
SECTION_PARTS = {"": lambda part: part != "e", "-augment": lambda part: part == "e"}


def update_markdown(path, data):
    """Replaces the text between the section markers for the run's device, in each section that
    the run has rows for. A file that does not exist gets those sections alone."""
    device = "gpu" if data["machine"]["device"] == "cuda" else "cpu"
    path = Path(path)
    fresh = not path.exists()
    if fresh:
        path.write_text("")
    for suffix, belongs in SECTION_PARTS.items():
        rows = [r for r in data["results"] if belongs(r["part"])]
        checks = data["checks"] if suffix == "" else []
        if not rows and not checks:
            continue
        section = device + suffix
        begin, end = SECTION.format(section, "begin"), SECTION.format(section, "end")
        text = path.read_text()
        if fresh and begin not in text:
            text += f"{begin}\n{end}\n"
        if begin not in text or end not in text:
            print(f"harness: {path} has no {begin} ... {end} markers; left as it is")
            continue
        head, rest = text.split(begin, 1)
        _, tail_text = rest.split(end, 1)
        markdown = render_markdown(data, rows, checks)
        path.write_text(f"{head}{begin}\n{markdown}\n{end}{tail_text}")
        print(f"Rewrote the {section.upper()} results in {path}")


def main():
    args = parse_args()
    if args.render:
        data = json.loads(Path(args.render).read_text())
        print(render_text(data))
        if args.markdown:
            update_markdown(args.markdown, data)
        return
    harness = Harness(args)
    harness.run()
    data = harness.report()
    if args.markdown:
        update_markdown(args.markdown, data)


if __name__ == "__main__":
    main()
