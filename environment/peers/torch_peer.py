"""The PyTorch peer: torchvision's JPEG decode, PyTorch eager conv bases (VGG16, VGG19,
ResNet50, MobileNetV2), and the idiomatic training loop (ImageFolder + DataLoader), with the
tutorial's model and optimizer.

    python torch_peer.py decode  --files LIST --threads N
    python torch_peer.py forward --model NAME --batch B --iterations K --threads N --device cpu|cuda
    python torch_peer.py gradcam --batch B --iterations K --threads N --device cpu|cuda
    python torch_peer.py epoch   --data DIR --phase frozen|finetune --epochs E --threads N
    python torch_peer.py cached  --data DIR --epochs E --threads N (fine-tuning on block4 output)
"""

import contextlib
import time

import common


def import_torch(threads, need_torchvision=True):
    common.limit_threads(threads)
    try:
        import torch
    except ImportError as e:
        common.skip(f"PyTorch is not installed ({e})")
    if need_torchvision:
        try:
            import torchvision  # noqa: F401
        except ImportError as e:
            common.skip(f"torchvision is not installed ({e})")
    torch.set_num_threads(threads)
    return torch


def pick_device(torch, name):
    if name == "cuda" and not torch.cuda.is_available():
        common.skip("PyTorch sees no CUDA GPU")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    # As ours does on CUDA: every batch has the same shape.
    torch.backends.cudnn.benchmark = True
    return torch.device("cuda")


def numbers(torch, args, device):
    """(memory format, autocast context) for --layout and --precision: channels_last, and
    torch.autocast to bfloat16 (PyTorch's mixed precision: float32 weights, bf16 compute)."""
    layout = torch.channels_last if args.layout == "nhwc" else torch.contiguous_format
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16"
                else contextlib.nullcontext())
    return layout, autocast


def synchronize(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def decode_one(path):
    """torchvision's decode_jpeg, then a resize to 224x224 with the nearest rule that matches
    Pillow's (NEAREST_EXACT)."""
    import torchvision
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    image = torchvision.io.decode_jpeg(
        torchvision.io.read_file(path), mode=torchvision.io.ImageReadMode.RGB
    )
    return F.resize(image, list(common.TARGET_SIZE), interpolation=InterpolationMode.NEAREST_EXACT)


def one_thread():
    import torch

    torch.set_num_threads(1)


def decode(args):
    import_torch(args.threads)
    files = common.read_files(args.files)
    seconds = common.in_pool(args.threads, one_thread, decode_one, files)
    common.report({"images": len(files), "seconds": seconds, "threads": args.threads})


def conv_base(name="vgg16"):
    """Keras's application `name` with include_top=False: torchvision's model, freshly
    initialised, without its pooling and classifier."""
    import torchvision
    from torch import nn

    model = getattr(torchvision.models, name)(weights=None)
    if name == "resnet50":  # no `features`: everything before avgpool and fc
        return nn.Sequential(*list(model.children())[:-2])
    return model.features


def forward(args):
    torch = import_torch(args.threads)
    device = pick_device(torch, args.device)
    torch.manual_seed(0)
    layout, autocast = numbers(torch, args, device)
    model = conv_base(args.model).to(device, memory_format=layout).eval()
    x = torch.randn(args.batch, 3, *common.TARGET_SIZE, device=device)
    x = x.contiguous(memory_format=layout)

    def run(count):
        start = time.perf_counter()
        with torch.inference_mode(), autocast:
            for _ in range(count):
                model(x)
        synchronize(torch, device)
        return time.perf_counter() - start

    run(1)
    seconds = run(args.iterations)
    result = {"images": args.batch * args.iterations, "seconds": seconds}
    result.update(threads=args.threads, batch=args.batch, device=device.type,
                  compute=f"{args.precision}-{args.layout}", model=args.model)
    common.report(result)


# torchvision's vgg16().features up to and including block5_conv3's ReLU.
BLOCK5_CONV3_END = 30


def gradcam(args):
    """Grad-CAM at block5_conv3 on the tutorial's model (random weights), as ours computes it:
    the layers up to it without autograd, the rest with it, the gradient of the dog's logit
    with respect to the layer's output only; beside the same model's forward pass."""
    torch = import_torch(args.threads)
    from torch import nn

    device = pick_device(torch, args.device)
    torch.manual_seed(0)
    base = conv_base()
    head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(512 * 7 * 7, 256), nn.ReLU(),
                         nn.Linear(256, 1))
    model = nn.Sequential(base, head).to(device).eval().requires_grad_(False)
    x = torch.randn(args.batch, 3, *common.TARGET_SIZE, device=device)

    def grad_cam():
        with torch.no_grad():
            a = base[:BLOCK5_CONV3_END](x)
        a.requires_grad_(True)
        logit = head(base[BLOCK5_CONV3_END:](a))[:, 0]
        (g,) = torch.autograd.grad(logit.sum(), a)
        cam = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1))
        return cam / cam.amax((1, 2), keepdim=True).clamp_min(1e-38)

    def forward():
        with torch.inference_mode():
            return torch.sigmoid(model(x))

    def timed(work):
        work()
        synchronize(torch, device)
        start = time.perf_counter()
        for _ in range(args.iterations):
            work()
        synchronize(torch, device)
        return time.perf_counter() - start

    seconds, forward_seconds = timed(grad_cam), timed(forward)
    common.report({"images": args.batch * args.iterations, "seconds": seconds,
                   "forward_seconds": forward_seconds,
                   "grad_cam_over_forward": seconds / forward_seconds, "threads": args.threads,
                   "batch": args.batch, "device": device.type, "compute": "fp32"})


class Caffe:
    """Keras's preprocess_input for VGG16 on a uint8 CHW RGB tensor: BGR float minus the mean."""

    def __init__(self, torch):
        self.mean = torch.tensor(common.CAFFE_MEAN_BGR).view(3, 1, 1)

    def __call__(self, x):
        return x.flip(0).float() - self.mean


def loaders(torch, args, device):
    """ImageFolder + DataLoader over the split's train/ (shuffled) and validation/, decoding as
    Keras's load_img and preprocess_input do."""
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose(
        [
            # On the PIL image, as Keras's load_img: Pillow's NEAREST.
            transforms.Resize(common.TARGET_SIZE, interpolation=transforms.InterpolationMode.NEAREST),
            transforms.PILToTensor(),
            Caffe(torch),
        ]
    )
    found = {}
    for split, shuffle in (("train", True), ("validation", False)):
        dataset = torchvision.datasets.ImageFolder(f"{args.data}/{split}", transform=transform)
        found[split] = torch.utils.data.DataLoader(
            dataset,
            batch_size=args.batch,
            shuffle=shuffle,
            num_workers=args.threads,
            pin_memory=device.type == "cuda",
        )
    return found


def tutorial_model(torch, base, phase, device, layout):
    """`base` (the conv base, or its block5 alone) + Flatten/Dropout(0.5)/Dense(256,
    relu)/Dense(1) (the sigmoid in the loss), block5 trainable when fine-tuning, and Keras's
    RMSprop (rho 0.9, epsilon 1e-7) at the phase's learning rate."""
    from torch import nn

    model = nn.Sequential(
        base,
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(512 * 7 * 7, 256),
        nn.ReLU(),
        nn.Linear(256, 1),
    ).to(device, memory_format=layout)
    base.requires_grad_(False)
    if phase == "finetune":
        trainable = base[common.TORCH_BLOCK5 :] if len(base) > common.TORCH_BLOCK5 else base
        trainable.requires_grad_(True)
    optimizer = torch.optim.RMSprop(
        [p for p in model.parameters() if p.requires_grad],
        lr=common.LEARNING_RATES[phase],
        alpha=0.9,
        eps=1e-7,
    )
    return model, optimizer


def train(torch, args, model, optimizer, batches, device, layout, autocast):
    """--epochs epochs of the idiomatic loop over `batches(split)` ((x, y) pairs), with
    validation; prints the result line."""
    from torch import nn

    loss_fn = nn.BCEWithLogitsLoss()
    epoch_seconds, metrics = [], {}
    images = 0
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.train()
        seen = correct = 0
        total_loss = 0.0
        for x, y in batches("train"):
            x = x.to(device, non_blocking=True, memory_format=layout)
            y = y.float().to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                logits = model(x).squeeze(1)
                loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += ((logits > 0).float() == y).sum().item()
            seen += len(y)
        images += seen
        metrics.update(loss=total_loss / seen, acc=correct / seen)
        model.eval()
        seen = correct = 0
        total_loss = 0.0
        with torch.no_grad():
            for x, y in batches("validation"):
                x = x.to(device, non_blocking=True, memory_format=layout)
                y = y.float().to(device, non_blocking=True)
                with autocast:
                    logits = model(x).squeeze(1)
                    total_loss += loss_fn(logits, y).item() * len(y)
                correct += ((logits > 0).float() == y).sum().item()
                seen += len(y)
        metrics.update(val_loss=total_loss / seen, val_acc=correct / seen)
        epoch_seconds.append(time.perf_counter() - start)
    common.report_epochs(args, images, epoch_seconds, metrics, device.type)


def epoch(args):
    torch = import_torch(args.threads)
    device = pick_device(torch, args.device)
    torch.manual_seed(0)
    data = loaders(torch, args, device)
    layout, autocast = numbers(torch, args, device)
    model, optimizer = tutorial_model(torch, conv_base(), args.phase, device, layout)
    train(torch, args, model, optimizer, lambda split: data[split], device, layout, autocast)


def cached(args):
    """Fine-tuning as ours' later epochs run it: block4's output of every image computed once
    (untimed, in the computation's precision), then epochs of block5 and the head on it, the
    training batches shuffled each epoch."""
    torch = import_torch(args.threads)
    device = pick_device(torch, args.device)
    torch.manual_seed(0)
    data = loaders(torch, args, device)
    layout, autocast = numbers(torch, args, device)
    base = conv_base().to(device, memory_format=layout)
    features = {}
    with torch.no_grad(), autocast:
        for split, loader in data.items():
            pairs = [(base[: common.TORCH_BLOCK5](x.to(device, memory_format=layout)), y)
                     for x, y in loader]
            features[split] = (torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs]))
    model, optimizer = tutorial_model(torch, base[common.TORCH_BLOCK5 :], "finetune", device,
                                      layout)

    def batches(split):
        x, y = features[split]
        order = torch.randperm(len(y)) if split == "train" else torch.arange(len(y))
        for i in range(0, len(y), args.batch):
            pick = order[i : i + args.batch]
            yield x[pick], y[pick]

    train(torch, args, model, optimizer, batches, device, layout, autocast)


def main():
    args = common.parser(__doc__).parse_args()
    {"decode": decode, "forward": forward, "gradcam": gradcam, "epoch": epoch,
     "cached": cached}[args.what](args)


if __name__ == "__main__":
    main()
