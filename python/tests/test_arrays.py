"""NumPy in and out: zero-copy views, the one copy of a misaligned array, and
the errors for arrays nabla cannot take."""
import numpy as np
import pytest

import nabla
from nabla import nn
from conftest import rand


def test_tensor_buffer_protocol_is_a_view():
    t = nabla.Tensor((3, 4))
    a = np.asarray(t)
    assert a.shape == (3, 4) and a.dtype == np.float32
    a[1, 2] = 5
    assert np.asarray(t)[1, 2] == 5
    assert np.shares_memory(a, t.numpy())
    assert a.ctypes.data % 64 == 0


def test_aligned_array_is_adopted_without_copy():
    x = nabla.aligned_array(rand(8, 5))
    assert x.ctypes.data % 64 == 0
    assert np.shares_memory(np.asarray(nabla.Tensor.from_array(x)), x)


def test_misaligned_array_is_copied_once():
    raw = nabla.aligned_empty((8 * 5 + 1,))
    x = raw[1:].reshape(8, 5)  # 4 bytes past a 64-byte boundary
    x[...] = rand(8, 5)
    t = nabla.Tensor.from_array(x)
    assert not np.shares_memory(np.asarray(t), x)
    assert np.array_equal(np.asarray(t), x)


def test_outputs_are_views_and_round_trip_without_copy():
    model = nn.Sequential(nn.Dense(5, 3))
    y = model(nabla.aligned_array(rand(4, 5)))
    assert type(y.base).__name__ == "PyCapsule"  # holds the nabla tensor the array views
    assert np.shares_memory(np.asarray(nabla.Tensor.from_array(y)), y)
    w = dict(model.named_parameters())["0.weight"]
    assert np.shares_memory(w, model.parameters()[0].value)
    w[...] = 0
    assert np.all(model.parameters()[0].value == 0)


def test_an_output_is_not_overwritten_while_held():
    model = nn.Sequential(nn.Dense(5, 3))
    y1 = model(nabla.aligned_array(rand(4, 5, seed=1)))
    keep = y1.copy()
    y2 = model(nabla.aligned_array(rand(4, 5, seed=2)))
    assert np.array_equal(y1, keep)
    assert not np.shares_memory(y1, y2)


@pytest.mark.parametrize("bad, error, words", [
    (np.zeros((4, 5), np.float64), TypeError, ["float64", "(4, 5)"]),
    (np.zeros((4, 5), np.int32), TypeError, ["int32", "(4, 5)"]),
    (np.zeros((4, 5), ">f4"), TypeError, [">f4", "(4, 5)"]),
    (np.zeros((5, 4), np.float32).T, ValueError, ["contiguous", "(4, 5)"]),
    (np.zeros((4, 10), np.float32)[:, ::2], ValueError, ["contiguous", "(4, 5)"]),
    (np.zeros((1, 1, 1, 4, 5), np.float32), ValueError, ["rank", "(1, 1, 1, 4, 5)"]),
    (np.array(1.0, np.float32), ValueError, ["rank", "()"]),
    (np.zeros((0, 5), np.float32), ValueError, ["empty", "(0, 5)"]),
    ([[1.0] * 5] * 4, TypeError, ["list"]),
])
def test_bad_arrays_raise_documented_errors(bad, error, words):
    model = nn.Sequential(nn.Dense(5, 3))
    with pytest.raises(error) as e:
        model(bad)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_nabla_errors_are_runtime_errors_with_the_message():
    model = nn.Sequential(nn.Dense(5, 3))
    with pytest.raises(nabla.Error, match=r"layer 0 \(Dense 5→3\).*expected 5") as e:
        model(rand(4, 6))
    assert isinstance(e.value, RuntimeError)
    with pytest.raises(nabla.Error):
        nn.Dense(0, 3)


def test_loss_gradient_is_read_only_and_fused_hint_survives():
    # A model ending in Sigmoid with BCE: the gradient passed back through
    # Python is the same Tensor, so the model uses the fused (A − Y)/N path.
    model = nn.Sequential(nn.Dense(5, 1))
    loss = nn.BinaryCrossEntropy(from_logits=True)
    loss(model(rand(4, 5)), np.ones((4, 1), np.float32))
    g = loss.backward()
    assert not g.flags.writeable
    assert np.shares_memory(np.asarray(nabla.Tensor.from_array(g)), g)
    model.backward(g)
