"""Files and programs around the module: a model saved from Python loads
in the command line (`nabla eval`) and in torch (strict=True), and
examples/python/vs_torch.py runs on a 2,000-sample slice."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nabla
from nabla import nn
from conftest import FASHION, SOURCE_DIR, close

needs_data = pytest.mark.skipif(not os.path.isdir(FASHION), reason="dataset-fashion-mnist not installed")


@needs_data
def test_python_save_loads_in_the_cli_and_in_torch(tmp_path, torch):
    train = nabla.data.take(nabla.data.load_mnist_dir(FASHION, "train"), 512)
    nabla.manual_seed(1)
    model = nn.from_spec("conv 4 3 pad 1 relu | maxpool 2 | dense 16 relu | dense 10", input_shape=(1, 28, 28))
    loss, opt = nn.SoftmaxCrossEntropy(), nn.Adam(model.parameters(), lr=1e-2)
    for x, y in nabla.data.BatchIterator(train, 64, seed=0):
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    path = str(tmp_path / "py.safetensors")
    nabla.save(model, path)

    # the command line rebuilds it from the file's metadata and evaluates it
    r = subprocess.run([sys.executable, "-m", "nabla", "eval", "--model", path, "--data", FASHION],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    m = re.search(r"accuracy[^0-9]*([0-9.]+)\s*%", r.stdout)
    assert m, r.stdout
    test = nabla.data.load_mnist_dir(FASHION, "test")
    ours = np.mean(np.concatenate([model(test.x[i:i + 1000]).argmax(1) for i in range(0, 10000, 1000)]) == test.labels)
    assert abs(float(m.group(1)) - 100 * ours) < 0.01 + 1e-9, (m.group(0), ours)

    # torch: the equivalent Sequential, strict=True
    tmodel = torch.nn.Sequential(*[eval(layer.torch(), {"torch": torch}) for layer in model])
    tensors, meta = nabla.load_tensors(path)
    assert meta["nabla.input"] == "1,28,28"
    tmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
    x = test.x[:8]
    close(model(x), tmodel(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@needs_data
def test_vs_torch_example_runs_on_a_slice(torch):
    script = os.path.join(SOURCE_DIR, "examples", "python", "vs_torch.py")
    r = subprocess.run([sys.executable, script, "--limit", "2000", "--test-limit", "1000", "--epochs", "1",
                        "--threads", "1", "--model", "conv 8 3 pad 1 relu | maxpool 2 | dense 32 relu | dense 10"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = [l for l in r.stdout.splitlines() if re.match(r"\s+1 \|", l)]
    assert len(rows) == 1, r.stdout
    nums = [float(v) for v in re.findall(r"[0-9]+\.[0-9]+", rows[0])]
    nabla_loss, nabla_acc, _, torch_loss, torch_acc, _, _ = nums
    # same start, same batches: the two trainings agree closely
    assert abs(nabla_loss - torch_loss) < 0.01 * torch_loss, rows[0]
    assert abs(nabla_acc - torch_acc) < 2.0 and nabla_acc > 50, rows[0]
