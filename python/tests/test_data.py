"""nabla.data: the readers and BatchIterator yielding views, not copies."""
import os

import numpy as np
import pytest

import nabla
from nabla import nn
from conftest import FASHION


def test_read_csv_and_dataset_ops(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,2\n7,8,1\n")
    d = nabla.data.read_csv(str(p), label="label")
    assert len(d) == 4 and d.num_classes == 3 and d.sample_shape == (2,)
    assert np.array_equal(d.x, np.array([[1, 2], [3, 4], [5, 6], [7, 8]], np.float32))
    assert list(d.labels) == [0, 1, 2, 1]
    s = nabla.data.select_classes(d, [1, 2])
    assert list(s.labels) == [0, 1, 0]
    assert len(nabla.data.take(d, 2)) == 2
    mean, std = nabla.data.moments(d)
    assert abs(mean - 4.5) < 1e-6
    nabla.data.normalize(d, mean, std)
    assert abs(float(d.x.mean())) < 1e-6
    with pytest.raises(nabla.Error, match="d.csv"):
        nabla.data.read_csv(str(p), label="nope")
    with pytest.raises(nabla.Error):
        nabla.data.load_mnist_dir(str(tmp_path))


def test_batch_iterator_yields_views_without_copies():
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    d = nabla.data.Dataset(x, np.arange(10) % 3)
    it = nabla.data.BatchIterator(d, 4)
    assert len(it) == 3
    seen, bases = [], set()
    for bx, by in it:
        seen.append((bx.copy(), by.copy()))
        bases.add(bx.ctypes.data)
        # what forward gets is the very buffer, not a copy of it
        assert np.shares_memory(np.asarray(nabla.Tensor.from_array(bx)), bx)
    assert [s[0].shape[0] for s in seen] == [4, 4, 2]
    assert len(bases) == 2  # the full-batch buffer and the partial one, reused
    assert np.array_equal(np.concatenate([s[0] for s in seen]), x)
    assert np.array_equal(np.concatenate([s[1] for s in seen]), (np.arange(10) % 3).astype(np.float32))
    # shuffled, seeded: a new order each epoch, the same for the same seed
    a = [bx.copy() for bx, _ in nabla.data.BatchIterator(d, 10, seed=5)]
    b = [bx.copy() for bx, _ in nabla.data.BatchIterator(d, 10, seed=5)]
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], x)
    col = nabla.data.BatchIterator(d, 4, column_targets=True)
    _, by = next(iter(col))
    assert by.shape == (4, 1)


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="dataset-fashion-mnist not installed")
def test_load_fashion_mnist_and_train_a_step():
    test = nabla.data.load_mnist_dir(FASHION, "test")
    assert test.x.shape == (10000, 1, 28, 28) and test.num_classes == 10
    assert 0 <= test.x.min() and test.x.max() <= 1
    with pytest.raises(ValueError):
        nabla.data.load_mnist_dir(FASHION, "validation")


def test_dataset_from_arrays_adopts_only_writable_aligned_memory():
    x = nabla.aligned_array(np.arange(12, dtype=np.float32).reshape(4, 3))
    d = nabla.data.Dataset(x, np.array([0, 1, 0, 1]))
    assert np.shares_memory(d.x, x) and d.num_classes == 2
    ro = nabla.aligned_array(np.arange(12, dtype=np.float32).reshape(4, 3))
    ro.flags.writeable = False
    d = nabla.data.Dataset(ro, np.array([0, 1, 0, 1]), num_classes=3)
    assert not np.shares_memory(d.x, ro) and d.num_classes == 3
    nabla.data.normalize(d, 1.0, 2.0)  # writes into its own copy
    assert ro[0, 0] == 0
    with pytest.raises(ValueError):
        nabla.data.Dataset(x, np.array([0, 1]))
    with pytest.raises(nabla.Error):
        nabla.data.Dataset(x, np.array([0, 1, 0, -1]))
