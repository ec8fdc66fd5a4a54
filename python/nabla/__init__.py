"""nabla: fast training of MLPs and CNNs on CPUs, from Python.

The same names as the C++ library (include/nabla/nabla.hpp)::

    import numpy as np, nabla
    from nabla import nn
    model = nn.Sequential(nn.Dense(2, 16), nn.Tanh(), nn.Dense(16, 1), nn.Sigmoid())
    loss = nn.BinaryCrossEntropy()
    opt = nn.Adam(model.parameters(), lr=0.05)
    for step in range(300):
        opt.zero_grad()
        l = loss(model(x), y)            # x, y: float32 NumPy arrays
        model.backward(loss.backward())
        opt.step()
    nabla.save(model, "circle.safetensors")

Arrays: every function that takes a tensor takes a C-contiguous float32
NumPy array (or a nabla.Tensor) and uses its memory without a copy when it
is 64-byte aligned or came from nabla (nabla.aligned_empty() makes such
arrays); other float32 arrays are copied once. Other dtypes raise TypeError,
other layouts ValueError, naming the array's dtype and shape. Results are
NumPy views of nabla's memory (numpy.shares_memory tells).

Modules: nabla.nn (layers, Sequential, losses, optimisers, from_spec),
nabla.data (readers, BatchIterator). ``python3 -m nabla train|eval|info|
tune|prof ...`` runs the command line.
"""
import numpy as _np

from . import _core
from ._core import (Error, Tensor, CpuInfo, ProfileStatus, __version__, active_isa, cpu_info, load,
                    load_tensors, manual_seed, num_threads, profile_status, save_tensors, set_isa,
                    set_num_threads)
from . import nn, data

__all__ = ["Error", "Tensor", "CpuInfo", "ProfileStatus", "active_isa", "aligned_empty", "aligned_array",
           "cpu_info", "data", "load", "load_tensors", "manual_seed", "nn", "num_threads", "profile_status",
           "save", "save_tensors", "set_isa", "set_num_threads"]


for _c in (Tensor, CpuInfo, ProfileStatus):
    _c.__module__ = __name__
del _c


def save(model, path, metadata=None, *, classes=None, normalize=None):
    """Writes the model's parameters as safetensors (keys '0.weight', ... like
    torch.nn.Sequential's state_dict, so torch's load_state_dict reads it),
    atomically, with optional string metadata.

    For a model made by nabla.nn.from_spec, the file also records what
    `nabla eval --model FILE` needs to rebuild it: the spec and input shape,
    and the classes kept (classes=[0, 6]; default all) and the input
    normalisation (normalize=(mean, stddev); default none) it was trained with.
    """
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    spec = nn.spec_of(model)
    if spec is not None:
        meta.setdefault("nabla.spec", spec[0])
        meta.setdefault("nabla.input", ",".join(str(d) for d in spec[1]))
        meta.setdefault("nabla.classes", ",".join(str(int(c)) for c in classes) if classes else "")
        meta.setdefault("nabla.normalize", f"{float(normalize[0])!r},{float(normalize[1])!r}" if normalize else "")
    _core.save(model, path, meta)


def aligned_empty(shape, dtype=_np.float32):
    """An uninitialised C-contiguous array whose data are 64-byte aligned, so
    nabla uses it without a copy (NumPy itself aligns to 16 bytes only)."""
    dtype = _np.dtype(dtype)
    n = int(_np.prod(shape, dtype=_np.int64)) * dtype.itemsize
    raw = _np.empty(n + 64, dtype=_np.uint8)
    off = (-raw.ctypes.data) % 64
    return raw[off:off + n].view(dtype).reshape(shape)


def aligned_array(a, dtype=_np.float32):
    """A 64-byte aligned C-contiguous copy of a (see aligned_empty)."""
    a = _np.asarray(a, dtype=dtype)
    out = aligned_empty(a.shape, dtype)
    out[...] = a
    return out
