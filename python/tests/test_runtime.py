"""The runtime functions, the GIL released in long calls, Ctrl-C, and
`python3 -m nabla`."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import nabla
from nabla import nn
from conftest import rand


def test_threads_cpu_and_profile():
    n = nabla.num_threads()
    nabla.set_num_threads(1)
    assert nabla.num_threads() == 1
    nabla.set_num_threads(n)
    with pytest.raises(nabla.Error):
        nabla.set_num_threads(0)
    info = nabla.cpu_info()
    assert info.physical_cores >= 1 and info.l1d_bytes > 0 and info.best_isa in ("generic", "avx2", "avx512")
    assert nabla.active_isa() in ("generic", "avx2", "avx512")
    st = nabla.profile_status()
    assert isinstance(st.message, str) and (st.profile is None) == (not st.in_use)
    with pytest.raises(nabla.Error):
        nabla.profile_status("mmx")


def test_results_do_not_depend_on_threads():
    x = rand(64, 100)
    nabla.manual_seed(1)
    model = nn.Sequential(nn.Dense(100, 50), nn.Dense(50, 10))
    nabla.set_num_threads(1)
    a = model(x).copy()
    nabla.set_num_threads(2)
    b = model(x).copy()
    assert np.array_equal(a, b)


def test_forward_releases_the_gil():
    # Another thread counts while a long forward runs; it can only count if
    # the forward let go of the GIL. The long switch interval keeps the
    # interpreter from handing the GIL over on its own; the counter gives it
    # back on every turn (time.sleep releases it).
    model = nn.Sequential(nn.Dense(1024, 1024), nn.Dense(1024, 1024), nn.Dense(1024, 1024))
    x = nabla.aligned_array(rand(1024, 1024))
    model(x)  # buffers sized once
    in_forward = [False]
    counted = [0]
    stop = [False]

    def count():
        while not stop[0]:
            if in_forward[0]:
                counted[0] += 1
            time.sleep(0)

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    t = threading.Thread(target=count)
    t.start()
    try:
        for _ in range(20):
            in_forward[0] = True
            model(x)
            in_forward[0] = False
            if counted[0] > 0:
                break
    finally:
        stop[0] = True
        sys.setswitchinterval(old)
        t.join()
    assert counted[0] > 0


def interrupted(script, wait=0.2):
    """Runs script (which prints 'started' once it is about to loop) in a
    Python subprocess, sends it SIGINT `wait` s after it started, and
    returns (exit status, stdout after 'started', stderr)."""
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        time.sleep(wait)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    return p.returncode, out, err


SETUP = (
    "import sys, numpy as np, nabla\n"
    "from nabla import nn\n"
    "m = nn.Sequential(nn.Dense(256, 256), nn.Dense(256, 10))\n"
    "loss = nn.SoftmaxCrossEntropy(); opt = nn.SGD(m.parameters(), lr=0.01)\n"
    "x = np.ones((64, 256), np.float32); y = np.zeros(64, np.float32)\n"
    "print('started', flush=True)\n")


def test_ctrl_c_stops_a_training_loop():
    rc, _, err = interrupted(SETUP + "while True:\n"
                                     "    opt.zero_grad(); loss(m(x), y); m.backward(loss.backward()); opt.step()\n")
    assert rc != 0 and "KeyboardInterrupt" in err


def test_ctrl_c_stops_a_single_long_call():
    """One call that would run for hours (a billion training steps in C++,
    the GIL released) stops at the next layer with KeyboardInterrupt, and
    the model still works afterwards."""
    rc, out, err = interrupted(SETUP + "try:\n"
                                       "    nn._time_steps_cpp(m, loss, opt, x, y, 10**9)\n"
                                       "except KeyboardInterrupt as e:\n"
                                       "    print('interrupted', m(x).shape, flush=True)\n", wait=0.3)
    assert rc == 0, err
    assert out.strip() == "interrupted (64, 10)", (out, err)


def test_python_m_nabla_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "nabla", "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ISA" in r.stdout or "isa" in r.stdout
    r = subprocess.run([sys.executable, "-m", "nabla", "train", "--epochs", "0"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "nabla: error:" in r.stderr
