"""nabla.nn against PyTorch on the same weights: forward, every gradient
(≤ 1e-5 relative), the losses and the optimisers' updates."""
import numpy as np
import pytest

import nabla
from nabla import nn
from conftest import close, rand


def copy_to_torch(model, tmodel, torch):
    """Copies nabla's parameters into the equivalent torch.nn.Sequential."""
    sd = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    tmodel.load_state_dict(sd, strict=True)


def grads_match(model, tmodel, rtol=1e-5):
    tp = dict(tmodel.named_parameters())
    for (name, _), p in zip(model.named_parameters(), model.parameters()):
        close(p.grad, tp[name].grad.numpy(), rtol=rtol, atol=1e-6)


def test_dense_mlp_forward_and_gradients(torch):
    model = nn.Sequential(nn.Dense(7, 5), nn.Dense(5, 3))
    tmodel = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Linear(5, 3))
    copy_to_torch(model, tmodel, torch)
    x, t = rand(6, 7, seed=1), rand(6, 3, seed=2)
    loss, tloss = nn.MSE(), torch.nn.MSELoss()
    l = loss(model(x), t)
    tl = tloss(tmodel(torch.from_numpy(x)), torch.from_numpy(t))
    tl.backward()
    assert abs(l - tl.item()) <= 1e-5 * abs(tl.item())
    model.backward(loss.backward())
    grads_match(model, tmodel)


def test_input_gradient(torch):
    model = nn.Sequential(nn.Dense(4, 2))
    model.input_grad = True
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 2))
    copy_to_torch(model, tmodel, torch)
    x = rand(3, 4)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    loss = nn.MSE()
    loss(model(x), np.zeros((3, 2), np.float32))
    dx = model.backward(loss.backward())
    torch.nn.MSELoss()(tmodel(tx), torch.zeros(3, 2)).backward()
    close(dx, tx.grad.numpy())


@pytest.mark.parametrize("kind", ["ce_index", "ce_onehot", "bce", "bce_logits", "mse"])
def test_losses_against_torch(torch, kind):
    p = rand(8, 4 if kind.startswith("ce") else 1, seed=3)
    if kind == "ce_index":
        t = np.random.default_rng(4).integers(0, 4, 8).astype(np.float32)
        loss, tloss, tt = nn.SoftmaxCrossEntropy(), torch.nn.CrossEntropyLoss(), torch.from_numpy(t).long()
    elif kind == "ce_onehot":
        t = np.eye(4, dtype=np.float32)[np.random.default_rng(4).integers(0, 4, 8)]
        loss, tloss, tt = nn.SoftmaxCrossEntropy(), torch.nn.CrossEntropyLoss(), torch.from_numpy(t)
    elif kind == "bce":
        p = 1 / (1 + np.exp(-p))
        t = (rand(8, 1, seed=5) > 0).astype(np.float32)
        loss, tloss, tt = nn.BinaryCrossEntropy(), torch.nn.BCELoss(), torch.from_numpy(t)
    elif kind == "bce_logits":
        t = (rand(8, 1, seed=5) > 0).astype(np.float32)
        loss, tloss, tt = nn.BinaryCrossEntropy(from_logits=True), torch.nn.BCEWithLogitsLoss(), torch.from_numpy(t)
    else:
        t = rand(8, 1, seed=5)
        loss, tloss, tt = nn.MSE(), torch.nn.MSELoss(), torch.from_numpy(t)
    tp = torch.from_numpy(p.copy()).requires_grad_()
    tl = tloss(tp, tt)
    tl.backward()
    l = loss.forward(p, t)
    assert abs(l - tl.item()) <= 1e-5 * abs(tl.item()) + 1e-7
    close(loss.backward(), tp.grad.numpy())


OPTIMISERS = {
    "sgd": (lambda ps: nn.SGD(ps, lr=0.1), lambda ps, torch: torch.optim.SGD(ps, lr=0.1)),
    "sgd_momentum_wd": (lambda ps: nn.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
                        lambda ps, torch: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01)),
    "adam": (lambda ps: nn.Adam(ps, lr=0.01), lambda ps, torch: torch.optim.Adam(ps, lr=0.01)),
    "adam_wd": (lambda ps: nn.Adam(ps, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
                lambda ps, torch: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "sgd_nesterov": (lambda ps: nn.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True),
                     lambda ps, torch: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=True)),
    "adamw": (lambda ps: nn.AdamW(ps, lr=0.01, weight_decay=0.1),
              lambda ps, torch: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    "rmsprop": (lambda ps: nn.RMSprop(ps, lr=0.01), lambda ps, torch: torch.optim.RMSprop(ps, lr=0.01)),
    "rmsprop_momentum_wd": (lambda ps: nn.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5),
                            lambda ps, torch: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01,
                                                                  momentum=0.5)),
}


@pytest.mark.parametrize("kind", ["step", "cosine", "warmup"])
def test_schedules_against_torch(torch, kind):
    model = nn.Sequential(nn.Dense(3, 2))
    tparam = torch.nn.Parameter(torch.zeros(1))
    opt, topt = nn.SGD(model.parameters(), lr=0.1), torch.optim.SGD([tparam], lr=0.1)
    if kind == "step":
        s, ts = nn.StepLR(opt, 2, gamma=0.5), torch.optim.lr_scheduler.StepLR(topt, 2, gamma=0.5)
    elif kind == "cosine":
        s, ts = nn.CosineAnnealingLR(opt, 5, eta_min=0.01), torch.optim.lr_scheduler.CosineAnnealingLR(topt, 5, 0.01)
    else:
        s, ts = nn.LinearWarmup(opt, 3, 0.25), torch.optim.lr_scheduler.LinearLR(topt, 0.25, 1.0, 3)
    for epoch in range(7):
        assert abs(opt.lr - topt.param_groups[0]["lr"]) <= 1e-6 * topt.param_groups[0]["lr"] + 1e-9, epoch
        topt.step()
        s.step()
        ts.step()
    assert s.epoch == 7


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_optimisers_against_torch(torch, name):
    make, tmake = OPTIMISERS[name]
    model = nn.Sequential(nn.Dense(6, 4), nn.Dense(4, 3))
    tmodel = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Linear(4, 3))
    copy_to_torch(model, tmodel, torch)
    opt, topt = make(model.parameters()), tmake(tmodel.parameters(), torch)
    loss, tloss = nn.SoftmaxCrossEntropy(), torch.nn.CrossEntropyLoss()
    for step in range(5):
        x = rand(8, 6, seed=10 + step)
        t = np.random.default_rng(step).integers(0, 3, 8)
        opt.zero_grad()
        topt.zero_grad()
        loss(model(x), t.astype(np.float32))
        model.backward(loss.backward())
        opt.step()
        tloss(tmodel(torch.from_numpy(x)), torch.from_numpy(t)).backward()
        topt.step()
    assert opt.steps == 5
    for name_, v in model.state_dict().items():
        close(v, tmodel.state_dict()[name_].numpy(), rtol=1e-5, atol=1e-6)
    opt.lr = 0.5
    assert opt.lr == 0.5
    with pytest.raises(nabla.Error):
        opt.lr = -1


def test_optimiser_keeps_its_model_alive():
    model = nn.Sequential(nn.Dense(3, 2))
    opt = nn.SGD(model.parameters(), lr=0.1)
    w = model.state_dict()["0.weight"].copy()
    del model
    opt.zero_grad()
    opt.step()  # gradients are zero: nothing moves, nothing dangles
    assert np.array_equal(np.asarray(opt.params[0]), w)
    with pytest.raises(TypeError):
        nn.SGD([np.zeros(3, np.float32)], lr=0.1)


def test_sequential_api():
    nabla.manual_seed(3)
    a = nn.Sequential(nn.Dense(4, 8), nn.Dense(8, 2))
    nabla.manual_seed(3)
    b = nn.Sequential().add(nn.Dense(4, 8)).add(nn.Dense(8, 2))
    for (na, va), (nb, vb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and np.array_equal(va, vb)
    assert [n for n, _ in a.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert len(a) == 2 and a.num_parameters() == 4 * 8 + 8 + 8 * 2 + 2
    assert a.output_shape((5, 4)) == (5, 2)
    assert "Dense 4→8" in a.summary((5, 4))
    assert a[0].weight.shape == (8, 4) and a[-1].name() == "Dense 8→2"
    d = nn.Dense(2, 2)
    a.add(d)
    with pytest.raises(nabla.Error, match="already belongs"):
        b.add(d)
    assert d.name() == "Dense 2→2" and len(a) == 3
    with pytest.raises(nabla.Error, match="missing key"):
        b.load_state_dict({})
    with pytest.raises(nabla.Error, match="shape"):
        b.load_state_dict({k: np.zeros((1,), np.float32) for k in b.state_dict()})
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items() if k.startswith(("0.", "1."))})
    a.zero_grad()
    a.init("he", 7)
    with pytest.raises(TypeError):
        nn.Dense(2.5, 3)
    with pytest.raises(TypeError):
        nn.Dense(2)


def test_save_and_load(tmp_path, torch):
    model = nn.Sequential(nn.Dense(5, 4), nn.Dense(4, 2))
    path = str(tmp_path / "m.safetensors")
    nabla.save(model, path, {"note": "hi"})
    other = nn.Sequential(nn.Dense(5, 4), nn.Dense(4, 2))
    nabla.load(other, path)
    for (_, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        assert np.array_equal(a, b)
    tensors, meta = nabla.load_tensors(path)
    assert meta["note"] == "hi" and tensors["1.bias"].shape == (2,)
    with pytest.raises(nabla.Error, match="m.safetensors"):
        nabla.load(nn.Sequential(nn.Dense(5, 3)), path)
    # torch reads it into the equivalent Sequential with strict=True.
    safetensors_torch = pytest.importorskip("safetensors.torch") if False else None
    tmodel = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 2))
    sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    tmodel.load_state_dict(sd, strict=True)
    x = rand(3, 5)
    close(model(x), tmodel(torch.from_numpy(x)).detach().numpy())
