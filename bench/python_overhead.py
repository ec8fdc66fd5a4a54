#!/usr/bin/env python3
"""What Python adds to a training step: the same step (zero_grad, forward,
loss, backward, step) on the same model and batch, driven from Python and
from C++ (nabla.nn._time_steps_cpp), in one process, interleaved.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_overhead.py [--threads 1] [--rounds 41] [--clock thread|wall]

Prints, per network, the median C++ and Python step times, the median of
the per-round differences (µs per step and % of the C++ step), and the
difference of the best rounds (less sensitive to a loaded machine). Targets (issue 16): ≤ 3 µs per step for
logreg at batch 64, ≤ 2 % for the cnn preset at batch 64. The batch comes
from BatchIterator (a view: no copy) or is a 64-byte aligned array.
"""
import argparse
import statistics
import time

import numpy as np

import nabla
from nabla import nn


def networks():
    """(name, model, loss, x, y) for each network measured."""
    rng = np.random.default_rng(0)
    out = []
    nabla.manual_seed(0)
    if hasattr(nn, "Sigmoid"):
        logreg = nn.Sequential(nn.Dense(784, 1), nn.Sigmoid())
        bce = nn.BinaryCrossEntropy()
    else:  # before the layer registry: the same model, the sigmoid in the loss
        logreg = nn.Sequential(nn.Dense(784, 1))
        bce = nn.BinaryCrossEntropy(from_logits=True)
    x = nabla.aligned_array(rng.standard_normal((64, 784)))
    y = nabla.aligned_array(rng.integers(0, 2, (64, 1)))
    out.append(("logreg", logreg, bce, x, y, 500))
    if hasattr(nn, "from_spec"):
        cnn = nn.from_spec("conv 32 3 pad 1 relu | maxpool 2 | conv 64 3 pad 1 relu | maxpool 2 | dense 128 relu | "
                           "dense 10", input_shape=(1, 28, 28))
        x = nabla.aligned_array(rng.standard_normal((64, 1, 28, 28)))
        y = nabla.aligned_array(rng.integers(0, 10, 64))
        out.append(("cnn", cnn, nn.SoftmaxCrossEntropy(), x, y, 2))
    return out


def python_steps(model, loss, opt, x, y, steps, clock):
    t0 = clock()
    for _ in range(steps):
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    return clock() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=41, help="interleaved C++/Python rounds (medians)")
    ap.add_argument("--clock", choices=["thread", "wall"], default="",
                    help="thread: CPU time of this thread (the default at 1 thread: the steps run on it, and "
                         "time given to other processes is left out); wall: elapsed time (default above 1 thread)")
    ap.add_argument("--only", default="", help="one network: logreg or cnn")
    args = ap.parse_args()
    nabla.set_num_threads(args.threads)
    clock_name = args.clock or ("thread" if args.threads == 1 else "wall")
    thread_clock = clock_name == "thread"
    clock = time.thread_time if thread_clock else time.perf_counter
    print(f"nabla {nabla.__version__}, {nabla.cpu_info().model.strip()}, ISA {nabla.active_isa()}, "
          f"{args.threads} thread(s), {clock_name} clock, {args.rounds} rounds")
    print(f"{'network':8} {'steps':>6} {'C++ µs/step':>12} {'Python µs/step':>15} {'overhead µs':>12} {'%':>7}"
          f" {'best-vs-best µs':>16}")
    for name, model, loss, x, y, steps in networks():
        if args.only and name != args.only:
            continue
        # SGD keeps weights bounded over many steps; zero lr: every step does the same work.
        opt = nn.SGD(model.parameters(), lr=0.0)
        python_steps(model, loss, opt, x, y, steps, clock)  # warm-up: buffers sized, caches warm
        nn._time_steps_cpp(model, loss, opt, x, y, steps, thread_clock)
        cpp, py = [], []
        for _ in range(args.rounds):
            cpp.append(nn._time_steps_cpp(model, loss, opt, x, y, steps, thread_clock) / steps)
            py.append(python_steps(model, loss, opt, x, y, steps, clock) / steps)
        c, p = statistics.median(cpp), statistics.median(py)
        # The per-round paired difference is less noisy than the difference of medians.
        d = statistics.median(b - a for a, b in zip(cpp, py))
        best = min(py) - min(cpp)
        print(f"{name:8} {steps:6d} {c * 1e6:12.2f} {p * 1e6:15.2f} {d * 1e6:12.2f} {100 * d / c:6.2f}%"
              f" {best * 1e6:16.2f}")


if __name__ == "__main__":
    main()
