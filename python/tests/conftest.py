"""Shared helpers of the Python tests (run by ctest with PYTHONPATH=<build>/python)."""
import os

import numpy as np
import pytest

import nabla

FASHION = "/usr/share/datasets/fashion-mnist"
SOURCE_DIR = os.environ.get("NABLA_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def rand(*shape, seed=0, lo=-1.0, hi=1.0):
    """A float32 array of uniform values (NumPy's alignment: usually not 64 bytes)."""
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


def close(a, b, rtol=1e-5, atol=1e-6):
    """max |a − b| <= atol + rtol·|b| elementwise, with a readable failure."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.abs(a - b) - (atol + rtol * np.abs(b))
    assert err.max(initial=-1) <= 0, f"max |diff| {np.abs(a - b).max():.3g} at {np.unravel_index(err.argmax(), err.shape)}"


@pytest.fixture
def torch():
    t = pytest.importorskip("torch")
    t.set_num_threads(1)
    return t
