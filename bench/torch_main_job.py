#!/usr/bin/env python3
"""The main job in plain PyTorch, as the peer for its time.

    /usr/bin/python3 bench/torch_main_job.py [--epochs 5] [--threads 2] [--model cnn|resnet]

Trains what `bash scripts/main-job.sh` trains with nabla — the `cnn` preset
(conv 32 3 pad 1 relu | maxpool 2 | conv 64 3 pad 1 relu | maxpool 2 |
dense 128 relu | dense 10) on Fashion-MNIST, 5 epochs, Adam lr 1e-3, batch
64, inputs standardised by the training set's mean and standard deviation,
shuffled each epoch — with Debian's python3-torch only (no nabla), and
prints per-epoch loss, test accuracy and seconds, then the total training
seconds (test evaluation excluded, as nabla's "trained N epochs in S s").
--model resnet trains the `resnet` preset's network for 10 epochs with lr
3e-3, the cosine schedule and --augment crop instead (nabla's command:
bench/RESULTS.md).
"""
import argparse
import ctypes
import gzip
import os
import time

# As nabla_compare does (bench/compare/main.cpp, "Memory"): glibc's mmap
# threshold at its maximum and no trimming, so that PyTorch's per-step
# tensors come from the heap instead of being mapped and page-faulted in
# anew (which made its steps 1.5-3x slower, by allocation history), before
# torch allocates anything.
_libc = ctypes.CDLL("libc.so.6")
_libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
_libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (plain or .gz) as a NumPy array."""
    for name in (path + ".gz", path):
        if os.path.exists(name):
            with (gzip.open if name.endswith(".gz") else open)(name, "rb") as f:
                data = f.read()
            break
    else:
        raise FileNotFoundError(path)
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(FASHION, prefix + "-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(FASHION, prefix + "-labels-idx1-ubyte")).astype(np.int64)
    return x[:, None, :, :], y


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


class Residual(nn.Module):
    """README's module: body(x) + shortcut(x)."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*(shortcut or []))

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if len(self.shortcut) else x)


def block(cin, cout, stride):
    body = [nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout)]
    short = [nn.Conv2d(cin, cout, 1, stride, 0), nn.BatchNorm2d(cout)] if (cin != cout or stride != 1) else None
    return [Residual(body, short), nn.ReLU()]


def resnet():
    """The resnet preset: a 32-channel stem and max-pool, BasicBlocks of 32, 64, 128 channels."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         *block(32, 32, 1), *block(32, 64, 2), *block(64, 128, 2), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(128, 10))


def augment(x, gen, fill):
    """RandomCrop(28, padding=2) with zero (raw 0) padding, per sample (nabla's --augment crop)."""
    n = x.shape[0]
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=fill)
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=None, help="default 5 (cnn), 10 (resnet)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None, help="default 1e-3 (cnn), 3e-3 (resnet)")
    ap.add_argument("--model", choices=["cnn", "resnet"], default="cnn")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.epochs is None:
        args.epochs = 5 if args.model == "cnn" else 10
    if args.lr is None:
        args.lr = 1e-3 if args.model == "cnn" else 3e-3
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y = load("train")
    xt, yt = load("test")
    mean, std = float(x.mean()), float(x.std())
    x = torch.from_numpy((x - mean) / std)
    xt = torch.from_numpy((xt - mean) / std)
    y, yt = torch.from_numpy(y), torch.from_numpy(yt)
    model = cnn() if args.model == "cnn" else resnet()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs) if args.model == "resnet" else None
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, {args.epochs} epochs")
    total = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        t0 = time.perf_counter()
        loss_sum = 0.0
        for i in range(0, len(x), args.batch):
            idx = order[i:i + args.batch]
            xb = x[idx]
            if args.model == "resnet":
                xb = augment(xb, gen, -mean / std)
            opt.zero_grad()
            loss = loss_fn(model(xb), y[idx])
            loss.backward()
            opt.step()
            loss_sum += float(loss) * len(idx)
        seconds = time.perf_counter() - t0
        total += seconds
        if sched:
            sched.step()
        model.eval()
        with torch.no_grad():
            right = sum(int((model(xt[i:i + 1000]).argmax(1) == yt[i:i + 1000]).sum()) for i in range(0, len(xt), 1000))
        print(f"epoch {epoch}/{args.epochs}  train loss {loss_sum / len(x):.4f}  test acc {100 * right / len(xt):6.2f}%"
              f"  {seconds:.1f} s", flush=True)
    print(f"trained {args.epochs} epochs in {total:.1f} s")


if __name__ == "__main__":
    main()
