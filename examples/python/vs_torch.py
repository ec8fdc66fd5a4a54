#!/usr/bin/env python3
"""nabla and PyTorch side by side: the same network, the same initial
weights, the same batches in the same order, on Fashion-MNIST.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/vs_torch.py \\
        [--model SPEC] [--epochs 2] [--limit N] [--batch 64] [--lr 1e-3] [--threads N]

The network is a nabla model spec (the `nabla train --model` grammar; the
default is the `cnn` preset). nabla builds it with nabla.nn.from_spec; the
torch model is made from each layer's torch equivalent (Layer.torch(), from
nabla's layer registry), and nabla's initial weights are copied into it
(load_state_dict, strict=True), so both start equal. Both train with Adam on
the batches of one nabla.data.BatchIterator (torch.from_numpy views: no
copies). Each epoch prints, for both, the mean training loss, the test
accuracy and the training time, and torch's time over nabla's.
"""
import argparse
import os
import sys
import time

import numpy as np

import nabla
from nabla import nn

CNN = "conv 32 3 pad 1 relu | maxpool 2 | conv 64 3 pad 1 relu | maxpool 2 | dense 128 relu | dense 10"


def torch_model(model, torch):
    """The torch.nn.Sequential equivalent of a nabla Sequential (layer by
    layer from the registry's torch descriptions), with nabla's weights."""
    tmodel = torch.nn.Sequential(*[eval(layer.torch(), {"torch": torch}) for layer in model])
    tmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}, strict=True)
    return tmodel


def accuracy(predict, x, labels, batch=1000):
    right = 0
    for i in range(0, len(x), batch):
        right += int((predict(x[i:i + batch]).argmax(axis=1) == labels[i:i + batch]).sum())
    return right / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="an MNIST-style IDX directory")
    ap.add_argument("--model", default=CNN, help="a nabla model spec (default: the cnn preset)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N training samples (0: all)")
    ap.add_argument("--test-limit", type=int, default=0, help="first N test samples (0: all)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=0, help="threads for both (0: nabla's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    threads = args.threads or nabla.num_threads()
    nabla.set_num_threads(threads)
    torch.set_num_threads(threads)

    train = nabla.data.load_mnist_dir(args.data, "train")
    test = nabla.data.load_mnist_dir(args.data, "test")
    if args.limit:
        train = nabla.data.take(train, args.limit)
    if args.test_limit:
        test = nabla.data.take(test, args.test_limit)
    mean, std = nabla.data.moments(train)
    nabla.data.normalize(train, mean, std)
    nabla.data.normalize(test, mean, std)

    nabla.manual_seed(args.seed)
    model = nn.from_spec(args.model, input_shape=train.sample_shape)
    tmodel = torch_model(model, torch)
    print(model.summary((args.batch,) + train.sample_shape))
    print(f"{len(train)} training / {len(test)} test samples, batch {args.batch}, Adam lr {args.lr}, "
          f"{threads} thread(s); torch {torch.__version__}, nabla {nabla.__version__} ({nabla.active_isa()})")

    loss, tloss = nn.SoftmaxCrossEntropy(), torch.nn.CrossEntropyLoss()
    opt = nn.Adam(model.parameters(), lr=args.lr)
    topt = torch.optim.Adam(tmodel.parameters(), lr=args.lr)
    batches = nabla.data.BatchIterator(train, args.batch, seed=args.seed)
    test_x, test_y = test.x, test.labels

    def torch_predict(x):
        with torch.no_grad():
            return tmodel(torch.from_numpy(x)).numpy()

    print(f"{'epoch':>5} | {'nabla loss':>10} {'acc':>7} {'time':>7} | {'torch loss':>10} {'acc':>7} {'time':>7} "
          f"| torch/nabla")
    for epoch in range(1, args.epochs + 1):
        tn = tt = 0.0
        ln = lt = 0.0
        n = 0
        for x, y in batches:
            t0 = time.perf_counter()
            opt.zero_grad()
            ln += loss(model(x), y) * len(x)
            model.backward(loss.backward())
            opt.step()
            t1 = time.perf_counter()
            topt.zero_grad()
            l = tloss(tmodel(torch.from_numpy(x)), torch.from_numpy(y).long())
            l.backward()
            topt.step()
            lt += l.item() * len(x)
            t2 = time.perf_counter()
            tn += t1 - t0
            tt += t2 - t1
            n += len(x)
        an = accuracy(model, test_x, test_y)
        at = accuracy(torch_predict, test_x, test_y)
        print(f"{epoch:5d} | {ln / n:10.4f} {100 * an:6.2f}% {tn:6.2f}s | {lt / n:10.4f} {100 * at:6.2f}% {tt:6.2f}s "
              f"| {tt / tn:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
