"""nabla.data: datasets in memory, their readers, and the mini-batch iterator.

    train = nabla.data.load_mnist_dir("/usr/share/datasets/fashion-mnist", "train")
    for x, y in nabla.data.BatchIterator(train, 64, seed=0):
        ...

Readers release the GIL while they read and parse.
"""
from ._core.data import (BatchIterator, Dataset, load_idx, load_mnist_dir, moments, normalize, read_csv,
                         select_classes, take)

__all__ = ["BatchIterator", "Dataset", "load_idx", "load_mnist_dir", "moments", "normalize", "read_csv",
           "select_classes", "take"]

for _c in (BatchIterator, Dataset):
    _c.__module__ = __name__
del _c
