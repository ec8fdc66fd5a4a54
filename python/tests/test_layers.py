"""Every layer type of the registry, as nabla.nn generates it, against its
torch equivalent (Layer.torch(), evaluated in float64 on the same weights):
forward output, input gradient and parameter gradients, ≤ 1e-5 relative
(to the largest value of each tensor). A layer type without an example here
fails the test: adding a layer to the registry means adding its case."""
import inspect

import numpy as np
import pytest

import nabla
from nabla import nn
from conftest import rand

# type name → [(constructor args, input shape)]; types whose arguments all
# have defaults and that take any input also run with () on IMAGE.
EXAMPLES = {
    "Dense": [((7, 5), (6, 7))],
    "Conv2D": [((3, 4, 3), (2, 3, 9, 9)), ((3, 4, 3, 2, 1), (2, 3, 9, 9)), ((2, 3, 1), (2, 2, 5, 5))],
    "MaxPool2D": [((2,), (2, 3, 8, 8)), ((3, 2), (2, 3, 9, 9))],
    "AvgPool2D": [((2,), (2, 3, 8, 8)), ((3, 2, 1), (2, 3, 9, 9))],
    "GlobalAvgPool2D": [((), (2, 3, 5, 5))],
    "Flatten": [((), (2, 3, 4, 4))],
    "Softmax": [((), (5, 7))],
}
IMAGE = (2, 3, 5, 5)
SKIP = {"Dropout": "random in training mode: test_dropout_against_torch",
        "BatchNorm1D": "running statistics: test_batchnorm_against_torch",
        "BatchNorm2D": "running statistics: test_batchnorm_against_torch",
        "Residual": "takes layers: test_residual_against_torch"}


def cases():
    out = []
    for t in nn.layer_types():
        if t.name in SKIP:
            continue
        if t.name in EXAMPLES:
            out += [(t.name, a, s) for a, s in EXAMPLES[t.name]]
        elif all(a.default is not None for a in t.args):
            out.append((t.name, (), IMAGE))
            for a in t.args:  # a non-default parameter too (LeakyReLU's slope, ...)
                if a.type == "float":
                    out.append((t.name, (a.default + 0.25,), IMAGE))
        else:
            out.append((t.name, None, None))
    return out


@pytest.mark.parametrize("name, args, shape", cases(), ids=lambda v: str(v))
def test_layer_against_torch(torch, name, args, shape):
    assert args is not None, f"no example for layer type {name}: add one to EXAMPLES"
    layer = getattr(nn, name)(*args)
    model = nn.Sequential(layer)
    model.input_grad = True
    tlayer = eval(model[0].torch(), {"torch": torch}).double()
    tmodel = torch.nn.Sequential(tlayer)
    tmodel.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in model.state_dict().items()},
                           strict=True)
    x = rand(*shape, seed=1)
    y = model(x)
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    ty = tmodel(tx)
    check(y, ty.detach().numpy(), "forward")
    dy = rand(*y.shape, seed=2)
    dx = model.backward(dy)
    ty.backward(torch.from_numpy(dy.astype(np.float64)))
    check(dx, tx.grad.numpy(), "input gradient")
    tp = dict(tmodel.named_parameters())
    for (pname, _), p in zip(model.named_parameters(), model.parameters()):
        check(p.grad, tp[pname].grad.numpy(), pname + " gradient")


def check(a, ref, what, rtol=1e-5, floor=1e-30):
    """max |a − ref| ≤ rtol · max(max |ref|, floor)."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    assert a.shape == ref.shape, (what, a.shape, ref.shape)
    scale = max(np.abs(ref).max(), floor)
    err = np.abs(a - ref).max() / scale
    assert err <= rtol, f"{what}: max |diff| / max |ref| = {err:.3g}"


def test_generated_classes_read_like_the_registry():
    for t in nn.layer_types():
        cls = getattr(nn, t.name)
        assert issubclass(cls, nn.Layer) and cls.__module__ == "nabla.nn"
        assert t.doc.strip().split("\n")[0] in cls.__doc__
        if t.name == "Residual":  # its arguments are layers (test_residual_against_torch)
            assert list(inspect.signature(cls).parameters) == ["body", "shortcut"]
            continue
        params = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in params] == [a.name for a in t.args]
        for p, a in zip(params, t.args):
            assert (p.default is inspect.Parameter.empty) == (a.default is None)
            assert a.name in cls.__doc__ and a.doc in cls.__doc__


def test_from_spec():
    model = nn.from_spec("conv 4 3 pad 1 relu | maxpool 2 | dense 10", input_shape=(1, 28, 28))
    assert [model[i].type for i in range(len(model))] == ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense"]
    assert model.output_shape((5, 1, 28, 28)) == (5, 10)
    assert model(nabla.aligned_empty((2, 1, 28, 28))).shape == (2, 10)
    with pytest.raises(nabla.Error, match="maxpool 40"):
        nn.from_spec("maxpool 40", input_shape=(1, 28, 28))
    with pytest.raises(nabla.Error):
        nn.from_spec("dense 0", input_shape=(10,))


@pytest.mark.parametrize("name, shape", [("BatchNorm1D", (8, 5)), ("BatchNorm2D", (4, 3, 5, 5))])
def test_batchnorm_against_torch(torch, name, shape):
    """Training (batch statistics, gradients, running statistics over two
    batches) and eval (running statistics) against torch in float64."""
    model = nn.Sequential(getattr(nn, name)(shape[1]))
    model.input_grad = True
    tlayer = eval(model[0].torch(), {"torch": torch}).double()
    for step in range(2):
        x = rand(*shape, seed=10 + step)
        model.zero_grad()
        y = model(x)
        tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
        ty = tlayer(tx)
        check(y, ty.detach().numpy(), "training forward")
        dy = rand(*y.shape, seed=20 + step)
        dx = model.backward(dy)
        tlayer.zero_grad()
        ty.backward(torch.from_numpy(dy.astype(np.float64)))
        check(dx, tx.grad.numpy(), "input gradient")
        for (pname, _), p in zip(model.named_parameters(), model.parameters()):
            check(p.grad, getattr(tlayer, pname.split(".")[-1]).grad.numpy(), pname + " gradient")
    buffers = dict(model.named_buffers())
    check(buffers["0.running_mean"], tlayer.running_mean.numpy(), "running_mean")
    check(buffers["0.running_var"], tlayer.running_var.numpy(), "running_var")
    assert buffers["0.num_batches_tracked"] == int(tlayer.num_batches_tracked) == 2
    model.eval()
    tlayer.eval()
    x = rand(*shape, seed=30)
    check(model(x), tlayer(torch.from_numpy(x.astype(np.float64))).detach().numpy(), "eval forward")


def test_dropout_against_torch(torch):
    """Training: the kept elements scaled by 1/(1 − p), the others zero, the
    gradient through the same mask: torch's own dropout given nabla's mask
    (aten.native_dropout_backward is torch's mask·x·scale); about p of the
    elements dropped. Eval: the identity, as torch's."""
    p = 0.3
    model = nn.Sequential(nn.Dropout(p))
    model.input_grad = True
    x = rand(64, 50, seed=1, lo=0.5, hi=1.5)  # no zeros: a zero output is a dropped element
    y = np.array(model(x))
    kept = y != 0
    assert abs((1 - kept.mean()) - p) < 0.03, kept.mean()
    scale = 1.0 / (1.0 - p)
    mask = torch.from_numpy(kept)
    tx = torch.from_numpy(x.astype(np.float64))
    check(y, torch.ops.aten.native_dropout_backward(tx, mask, scale).numpy(), "training forward")
    dy = rand(*y.shape, seed=2)
    dx = model.backward(dy)
    check(dx, torch.ops.aten.native_dropout_backward(torch.from_numpy(dy.astype(np.float64)), mask, scale).numpy(),
          "input gradient")
    tlayer = eval(model[0].torch(), {"torch": torch})
    assert isinstance(tlayer, torch.nn.Dropout) and tlayer.p == pytest.approx(p)
    model.eval()
    tlayer.eval()
    assert np.array_equal(model(x), tlayer(torch.from_numpy(x)).numpy())
    with pytest.raises(nabla.Error, match=r"p 1.5 is not in \[0, 1\)"):
        nn.Dropout(1.5)


class _TorchResidual:
    """README's ten-line torch module (made on first use, torch imported)."""

    @staticmethod
    def make(torch):
        class Residual(torch.nn.Module):
            def __init__(self, body, shortcut=None):
                super().__init__()
                self.body = torch.nn.Sequential(*body)
                self.shortcut = torch.nn.Sequential(*(shortcut or []))

            def forward(self, x):
                return self.body(x) + (self.shortcut(x) if len(self.shortcut) else x)
        return Residual


@pytest.mark.parametrize("downsample", [False, True], ids=["identity", "conv-bn shortcut"])
def test_residual_against_torch(torch, downsample):
    """A Residual block (conv, BN, ReLU, conv, BN; the shortcut the identity
    or a strided 1×1 conv + BN) against the README's torch module loaded
    strict from nabla's state_dict: forward, input and parameter gradients
    and the running statistics in training, the forward in eval."""
    c, out, stride = (3, 3, 1) if not downsample else (3, 5, 2)
    body = [nn.Conv2D(c, out, 3, stride, 1), nn.BatchNorm2D(out), nn.ReLU(), nn.Conv2D(out, out, 3, 1, 1),
            nn.BatchNorm2D(out)]
    shortcut = [nn.Conv2D(c, out, 1, stride, 0), nn.BatchNorm2D(out)] if downsample else None
    model = nn.Sequential(nn.Residual(body, shortcut), nn.ReLU())
    model.input_grad = True
    T = torch.nn
    tbody = [T.Conv2d(c, out, 3, stride, 1), T.BatchNorm2d(out), T.ReLU(), T.Conv2d(out, out, 3, 1, 1),
             T.BatchNorm2d(out)]
    tshort = [T.Conv2d(c, out, 1, stride, 0), T.BatchNorm2d(out)] if downsample else None
    tmodel = T.Sequential(_TorchResidual.make(torch)(tbody, tshort), T.ReLU()).double()
    # state_dict() holds the buffers too, as torch's does: it loads strict.
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()}
    assert state["0.body.1.num_batches_tracked"].dtype == torch.int64
    tmodel.load_state_dict(state, strict=True)
    x = rand(4, c, 9, 9, seed=3)
    y = model(x)
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    ty = tmodel(tx)
    check(y, ty.detach().numpy(), "forward")
    dy = rand(*y.shape, seed=4)
    model.zero_grad()
    dx = model.backward(dy)
    ty.backward(torch.from_numpy(dy.astype(np.float64)))
    check(dx, tx.grad.numpy(), "input gradient")
    tp = dict(tmodel.named_parameters())
    for (pname, _), p in zip(model.named_parameters(), model.parameters()):
        # A convolution's bias before batch norm has a gradient of zero
        # (rounding: ~1e-8 here, ~1e-17 in torch's float64): relative to dy's scale, 1.
        check(p.grad, tp[pname].grad.numpy(), pname + " gradient", floor=1.0)
    tb = dict(tmodel.named_buffers())
    for k, v in model.named_buffers():
        if k.endswith("num_batches_tracked"):
            assert int(v) == int(tb[k]) == 1, k
        else:
            check(v, tb[k].numpy(), k)
    model.eval()
    tmodel.eval()
    x = rand(4, c, 9, 9, seed=5)
    check(model(x), tmodel(torch.from_numpy(x.astype(np.float64))).detach().numpy(), "eval forward")
    # And back: torch's state_dict (parameters, running statistics, counts) into a fresh nabla model.
    again = nn.Sequential(nn.Residual([nn.Conv2D(c, out, 3, stride, 1), nn.BatchNorm2D(out), nn.ReLU(),
                                       nn.Conv2D(out, out, 3, 1, 1), nn.BatchNorm2D(out)],
                                      [nn.Conv2D(c, out, 1, stride, 0), nn.BatchNorm2D(out)] if downsample else None),
                          nn.ReLU())
    again.load_state_dict({k: v.numpy().astype(np.float32) if v.is_floating_point() else v.item()
                           for k, v in tmodel.state_dict().items()})
    again.eval()
    check(again(x), model(x), "eval forward after loading torch's state_dict", rtol=1e-6)
    with pytest.raises(nabla.Error, match="missing key '0.body.1.running_mean'"):
        again.load_state_dict({k: v for k, v in model.state_dict().items() if "running_mean" not in k})
    with pytest.raises(TypeError, match="list of new nabla.nn layers"):
        nn.Residual(nn.Sequential(nn.ReLU()))
    with pytest.raises(nabla.Error, match="already belongs"):
        nn.Residual([body[0]])
