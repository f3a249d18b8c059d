"""How the frozen experiment grows with the number of images (issue 22): time, peak RAM and the
caches on disk, a line per 1,000 images up to Kaggle's 25,000, written into BENCHMARKS.md.

Measured, at a small --target-size (32x32 unless told) so that it runs in minutes on a CPU:
  - a generated split of each of --sizes images (the tutorial's 16000/4500/4500 proportions),
    made from one set of synthetic Kaggle-size JPEGs (`catsdogs sample --kaggle-sizes`);
  - for each: the decoded-image caches (`catsdogs cache DIR`, timed), then the frozen run
    (`catsdogs bench epoch --experiment frozen`, --epochs epochs, test set included), with its
    time before the first epoch (the feature pass, which writes the features to disk) and its
    epochs, and the process's peak memory: anonymous (what must stay in RAM) and file-backed
    (the memory-mapped caches, which the kernel may drop and read again);
  - the caches' files on disk afterwards.
And the same at 224x224 on one small split (--base images), whose per-image figures give the
224x224 columns: time and disk scale with the images (disk exactly: 150,528 bytes a decoded
image; 7x7x512 values an image of features), and the anonymous peak is the small run's plus
the growth per image that the 32x32 runs show. Lines between the measured sizes are
interpolated (linearly) and marked so.

Usage: growth.py --catsdogs target/release/catsdogs --work DIR [--markdown BENCHMARKS.md]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import children_of, describe_machine, last_json, run_catsdogs  # noqa: E402

SECTION = "<!-- growth:{} -->"
# The tutorial's split of Kaggle's 25,000 images.
KAGGLE = (16000, 4500, 4500)
IMAGE_BYTES_224 = 224 * 224 * 3
FEATURE_VALUES_224 = 7 * 7 * 512
RAM_GOAL_GB = 4.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--catsdogs", required=True, help="the release binary of catsdogs")
    p.add_argument("--work", required=True, help="folder for the images, splits and runs")
    p.add_argument("--out", help="folder for growth.json and the logs (default: WORK)")
    p.add_argument("--markdown", help="BENCHMARKS.md, whose growth section is rewritten")
    p.add_argument("--sizes", default="1000,5000,10000,25000",
                   help="images of the measured splits, at --target-size")
    p.add_argument("--target-size", type=int, default=32, help="the side of the small images")
    p.add_argument("--base", type=int, default=250,
                   help="images of the split measured at 224 (0: none, for a run whose "
                        "growth.json is rendered together with another's)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of each run")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--render", metavar="GROWTH_JSON", nargs="+",
                   help="only rewrite --markdown from them (several: their measured sizes "
                        "together, and the 224x224 run of the one that has it)")
    args = p.parse_args()
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    return args


def proportions(total):
    """The tutorial's train/validation/test proportions for `total` images, each even (both
    classes alike)."""
    train = 2 * round(total * KAGGLE[0] / sum(KAGGLE) / 2)
    validation = 2 * round(total * KAGGLE[1] / sum(KAGGLE) / 2)
    return train, validation, total - train - validation


class Growth:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.out = Path(args.out or args.work)
        self.logs = self.out / "growth-logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def catsdogs(self, *args):
        return run_catsdogs(self.args.catsdogs, args, "growth")

    def images(self):
        """The zip of synthetic Kaggle-size images, as many as the largest split needs."""
        most = max(self.args.sizes + [self.args.base])
        zip_path = self.work / f"sample-{most}.zip"
        if not zip_path.exists():
            print(f"Making {most} synthetic Kaggle-size images", flush=True)
            self.catsdogs("sample", "--kaggle-sizes", "--force", "--per-class", (most + 1) // 2,
                          zip_path)
        return zip_path

    def split(self, zip_path, total):
        folder = self.work / f"split-{total}"
        train, validation, test = proportions(total)
        # A split already made from the same zip with the same sizes is left as it is.
        self.catsdogs("split", zip_path, folder, "--train", train, "--validation", validation,
                      "--test", test)
        return folder, (train, validation, test)

    def measure(self, total, side, zip_path):
        """One split at one size: decode caches, then the frozen run; returns its row."""
        split, (train, validation, test) = self.split(zip_path, total)
        shutil.rmtree(split / ".catsdogs-cache", ignore_errors=True)
        size = f"{side}x{side}"
        row = {"images": total, "side": side, "train": train, "validation": validation,
               "test": test, "load_before": os.getloadavg()[0]}
        started = time.monotonic()
        for folder in ("train", "validation", "test"):
            self.catsdogs("cache", split / folder, "--target-size", size)
        row["decode_seconds"] = time.monotonic() - started
        run_dir = self.work / "runs" / f"frozen-{total}-{side}"
        shutil.rmtree(run_dir, ignore_errors=True)
        cmd = [self.args.catsdogs, "bench", "epoch", "--experiment", "frozen", "--data", split,
               "--epochs", self.args.epochs, "--target-size", size, "--threads",
               self.args.threads, "--device", "cpu", "--out", run_dir]
        log = self.logs / f"frozen-{total}-{side}.log"
        print(f"  {total} images at {size}: frozen run ...", end="", flush=True)
        memory = run_with_memory([str(c) for c in cmd], log, self.args.threads)
        result = last_json(log)
        if memory["status"] != 0 or not result:
            sys.exit(f"growth: the run failed; see {log}")
        epochs = result["epoch_seconds"]
        later = sorted(epochs[1:]) or epochs
        row.update(
            wall_seconds=memory["wall"],
            feature_seconds=result["before_first_epoch_seconds"],
            first_epoch_seconds=epochs[0],
            later_epoch_seconds=later[len(later) // 2],
            peak_anon_mb=memory["anon_mb"],
            peak_rss_mb=memory["rss_mb"],
            load_after=os.getloadavg()[0],
            **cache_files(split),
        )
        print(f" {row['feature_seconds']:.1f} s before the first epoch, "
              f"{row['later_epoch_seconds']:.2f} s an epoch, {row['peak_anon_mb']:.0f} MB "
              f"anonymous at most", flush=True)
        return row

    def run(self):
        zip_path = self.images()
        rows = [self.measure(total, self.args.target_size, zip_path)
                for total in self.args.sizes]
        base = self.measure(self.args.base, 224, zip_path) if self.args.base else None
        data = {
            "machine": describe_machine(argparse.Namespace(catsdogs=self.args.catsdogs,
                                                           python=sys.executable), "cpu",
                                        len(os.sched_getaffinity(0))),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "threads": self.args.threads, "epochs": self.args.epochs,
            "side": self.args.target_size, "measured": rows, "base224": base,
        }
        path = self.out / "growth.json"
        path.write_text(json.dumps(data, indent=2) + "\n")
        print(f"Wrote {path}")
        return data


def run_with_memory(cmd, log, threads):
    """Runs cmd, sampling its tree's anonymous and total resident memory every 0.1 s from
    /proc; returns wall seconds, exit status and the peaks in MB."""
    env = dict(os.environ, CATSDOGS_DEVICE="cpu")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        anon = rss = 0
        while proc.poll() is None:
            a, r = tree_memory(proc.pid)
            anon, rss = max(anon, a), max(rss, r)
            time.sleep(0.1)
    return {"wall": time.monotonic() - start, "status": proc.returncode,
            "anon_mb": anon / 2**20, "rss_mb": rss / 2**20}


def tree_memory(pid):
    """(RssAnon, VmRSS) in bytes, summed over pid and its descendants."""
    anon = rss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        anon += int(line.split()[1]) * 1024
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
        except OSError:
            continue
        todo.extend(children_of(p))
    return anon, rss


def cache_files(split):
    """Bytes of the decoded images and of the features in the split's cache folder."""
    sizes = {"image_cache_bytes": 0, "feature_bytes": 0}
    for path in (split / ".catsdogs-cache").rglob("*"):
        if path.name.startswith("images-"):
            sizes["image_cache_bytes"] += path.stat().st_size
        elif path.name.startswith("features-"):
            sizes["feature_bytes"] += path.stat().st_size
    return sizes


# ----- the table ---------------------------------------------------------------------------


def interpolate(rows, total, key):
    """`key` at `total` images: measured, or linear between the nearest measured sizes; beyond
    them, times and disk in proportion to the images of the nearest measured size, and memory
    along the growth per image (`slope`): two noisy points on a loaded machine would give a
    line that goes below zero."""
    for r in rows:
        if r["images"] == total:
            return r[key]
    below = [r for r in rows if r["images"] < total]
    above = [r for r in rows if r["images"] > total]
    if below and above:
        (x0, y0), (x1, y1) = [(r["images"], r[key]) for r in (below[-1], above[0])]
        return y0 + (y1 - y0) * (total - x0) / (x1 - x0)
    nearest = below[-1] if below else above[0]
    if key.startswith("peak_"):
        return nearest[key] + slope(rows, key) * (total - nearest["images"])
    return nearest[key] * total / nearest["images"]


def slope(rows, key):
    """Least-squares growth of `key` per image over the measured sizes."""
    if len(rows) < 2:
        return 0.0
    xs = [r["images"] for r in rows]
    ys = [r[key] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def at_224(base, rows, total):
    """The 224x224 figures for `total` images, from the small 224 run and the growth with the
    number of images that the small-size runs show."""
    n = base["images"]
    train, validation, _ = proportions(total)
    # The dtype of the features: the 224 run's file size over its values.
    feature_images = base["train"] + base["validation"]
    value_bytes = round(base["feature_bytes"] / feature_images / FEATURE_VALUES_224)
    return {
        # Decoding a Kaggle-size JPEG costs about the same whatever the target size, and the
        # small 224x224 run's decode is mostly the processes' start.
        "decode_seconds": interpolate(rows, total, "decode_seconds"),
        "feature_seconds": base["feature_seconds"] * total / n,
        "later_epoch_seconds": base["later_epoch_seconds"] * total / n,
        "peak_anon_mb": base["peak_anon_mb"] + slope(rows, "peak_anon_mb") * (total - n),
        "image_cache_bytes": total * IMAGE_BYTES_224,
        "feature_bytes": (train + validation) * FEATURE_VALUES_224 * value_bytes,
        "value_bytes": value_bytes,
    }


def render_markdown(data):
    rows, base, side = data["measured"], data["base224"], data["side"]
    measured = {r["images"] for r in rows}
    loads = [r["load_before"] for r in rows + [base]] + [r["load_after"] for r in rows + [base]]
    m = data["machine"]
    big = at_224(base, rows, 25000)
    anon_slope = slope(rows, "peak_anon_mb") * 1000
    lines = [
        f"- Machine: {m['cpu']}, {m['cores_usable']} usable cores, {m['ram_gib']} GiB RAM; "
        f"{data['threads']} threads; load average {min(loads):.1f} to {max(loads):.1f} before and "
        f"after the runs, on {m['cores_usable']} cores (above that, other work shared the "
        f"machine). {data['date']}.",
        f"- Each run: `catsdogs bench epoch --experiment frozen --epochs {data['epochs']}` on a "
        f"split in the tutorial's proportions (16000/4500/4500 of 25,000) of synthetic "
        f"Kaggle-size JPEGs, random VGG16 weights, auto precision, the decoded-image caches "
        f"made first (`catsdogs cache DIR`, the `decode` column); `features` is the time "
        f"before the first epoch (model, flows, the feature pass over train and validation, "
        f"written to disk), `epoch` the median of the later epochs (training on the features "
        f"read from their memory-mapped files, and the validation).",
        f"- Measured at {side}x{side} on {', '.join(f'{n:,}' for n in sorted(measured))} "
        f"images; the other lines (marked ~) are interpolated between them, and beyond the "
        f"largest, times and disk are scaled by the number of images, memory grown by the "
        f"measured growth per image. The 224x224 columns are "
        f"computed: the decode as at {side}x{side} (decoding the JPEG is the work; the "
        f"target size changes only the resize); the feature pass and the epochs from a "
        f"measured run at 224x224 on {base['images']} images, scaled by the number of images "
        f"(upper bounds: the small run's times are partly fixed costs, such as the model's "
        f"start and the checkpoints, that do not grow with the images); "
        f"disk exactly ({IMAGE_BYTES_224:,} bytes a decoded image, "
        f"7x7x512 values of {big['value_bytes']} bytes an image of features, training and "
        f"validation); RAM as that run's anonymous peak ({base['peak_anon_mb']:.0f} MiB) plus "
        f"the growth per image at {side}x{side} ({anon_slope:.1f} MiB per 1,000 images).",
        "- `RAM anon` is the process's peak anonymous memory (its own, which must stay in RAM); "
        "`RAM all` adds the pages of the memory-mapped caches that were resident, which the "
        "kernel drops under pressure and reads again from disk.",
        "",
        f"| images | {side}px decode s | {side}px features s | {side}px epoch s | "
        f"{side}px RAM anon MiB | {side}px RAM all MiB | {side}px caches MB | 224px decode s | "
        f"224px features s | 224px epoch s | 224px RAM anon MiB | 224px caches GB |",
        "|" + "---|" * 12,
    ]
    for total in range(1000, 25001, 1000):
        mark = "" if total in measured else "~"
        get = lambda key: interpolate(rows, total, key)  # noqa: E731
        big = at_224(base, rows, total)
        caches = (get("image_cache_bytes") + get("feature_bytes")) / 1e6
        lines.append(
            f"| {mark}{total:,} | {mark}{get('decode_seconds'):.1f} | "
            f"{mark}{get('feature_seconds'):.1f} | {mark}{get('later_epoch_seconds'):.2f} | "
            f"{mark}{get('peak_anon_mb'):.0f} | {mark}{get('peak_rss_mb'):.0f} | "
            f"{mark}{caches:.0f} | {big['decode_seconds']:.0f} | {big['feature_seconds']:.0f} | "
            f"{big['later_epoch_seconds']:.1f} | {big['peak_anon_mb']:.0f} | "
            f"{(big['image_cache_bytes'] + big['feature_bytes']) / 1e9:.2f} |")
    big = at_224(base, rows, 25000)
    peak_gb = big["peak_anon_mb"] * 2**20 / 1e9
    fits = peak_gb < RAM_GOAL_GB
    lines += [
        "",
        f"At 224x224, the 25,000-image frozen run needs about {peak_gb:.2f} "
        f"GB{'' if 25000 in measured else ' (extrapolated)'} "
        f"of anonymous memory at its peak (the feature pass's activations; the features "
        f"are not held in memory on the CPU but read from their mapped file), and "
        f"{(big['image_cache_bytes'] + big['feature_bytes']) / 1e9:.2f} GB of disk for its "
        f"caches ({big['image_cache_bytes'] / 1e9:.2f} GB of decoded images, "
        f"{big['feature_bytes'] / 1e9:.2f} GB of features). "
        + (f"It fits in {RAM_GOAL_GB:.0f} GB of RAM with the feature cache on disk, "
           f"memory-mapped: the caches' mapped pages are file-backed, so the kernel keeps what "
           f"room is left for them and reads the rest again from disk."
           if fits else
           f"It does not fit in {RAM_GOAL_GB:.0f} GB of RAM."),
    ]
    return "\n".join(lines)


def update_markdown(path, data):
    begin, end = SECTION.format("begin"), SECTION.format("end")
    text = Path(path).read_text() if Path(path).exists() else ""
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail_text = rest.split(end, 1)
    Path(path).write_text(f"{head}{begin}\n{render_markdown(data)}\n{end}{tail_text}")
    print(f"Rewrote the growth section of {path}")


def merge(runs):
    """Several growth.json runs as one: the measured rows of all, by size, and the 224x224 run
    of the first that has one."""
    data = dict(runs[0])
    data["measured"] = sorted((r for run in runs for r in run["measured"]),
                              key=lambda r: r["images"])
    data["base224"] = next(run["base224"] for run in runs if run["base224"])
    return data


def main():
    args = parse_args()
    if args.render:
        data = merge([json.loads(Path(path).read_text()) for path in args.render])
    else:
        data = Growth(args).run()
        if not data["base224"]:
            return  # no 224x224 run: rendered with another run's growth.json (--render)
    print(render_markdown(data))
    if args.markdown:
        update_markdown(args.markdown, data)


if __name__ == "__main__":
    main()
