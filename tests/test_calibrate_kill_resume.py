"""calibrate_many checkpoints under a real crash: a subprocess is SIGKILLed mid-run and the run is
resumed in this process; two processes write the same checkpoint directory at once.

Oracle: an uninterrupted in-process run of the same table (units independent: warm_start=False), so
resumed tables must equal it exactly; the checkpoint files themselves (every one parses, carries its
unit's key, no temporary file is mistaken for a result).
"""
import json
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from test_calibrate import FREE, SK, targets_at

from jaxoff.calibrate import CalibrationWarning, calibrate_many
from jaxoff.models.trading_tasks import SUBMODELS

M1 = SUBMODELS["M1"]
BETAS = [1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.2, 2.4]
UNITS = [f"C{i}" for i in range(len(BETAS))]
OPTS = dict(warm_start=False, progress=False, warn=False, solve_kwargs=SK)
TESTS = str(Path(__file__).resolve().parent)

SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import pandas as pd
    from jaxoff.calibrate import calibrate_many
    from jaxoff.models.trading_tasks import SUBMODELS
    from test_calibrate import FREE, SK, targets_at

    betas = {betas!r}
    df = pd.DataFrame.from_dict({{f"C{{i}}": targets_at(b, 0.9) for i, b in enumerate(betas)}}, orient="index")
    pause = float(sys.argv[2])

    def slow(uid, row):  # a slow unit: leaves time to kill the process between (or during) writes
        print(uid, flush=True)
        time.sleep(pause)

    calibrate_many(SUBMODELS["M1"](), df, FREE, checkpoint_dir=sys.argv[1], warm_start=False, progress=False,
                   warn=False, solve_kwargs=SK, on_result=slow)
    print("done", flush=True)
""")


@pytest.fixture(scope="module")
def table():
    return pd.DataFrame.from_dict({u: targets_at(b, 0.9) for u, b in zip(UNITS, BETAS)}, orient="index")


@pytest.fixture(scope="module")
def uninterrupted(table):
    return calibrate_many(M1(), table, FREE, **OPTS).table


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    p = tmp_path_factory.mktemp("script") / "run_many.py"
    p.write_text(SCRIPT.format(tests=TESTS, betas=BETAS))
    return p


def _start(script, ckpt, pause):
    return subprocess.Popen([sys.executable, str(script), str(ckpt), str(pause)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _done_units(ckpt):
    return sorted(p.stem for p in Path(ckpt).glob("C*.json"))


def test_sigkill_mid_run_then_resume_equals_uninterrupted(table, uninterrupted, script, tmp_path):
    ckpt = tmp_path / "ckpt"
    proc = _start(script, ckpt, pause=0.4)
    deadline = time.monotonic() + 240
    while len(_done_units(ckpt)) < 3:
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoints written in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and "done" not in out
    before = _done_units(ckpt)
    assert 3 <= len(before) < len(UNITS)
    for u in before:  # what the killed run left is complete JSON of its unit
        assert json.loads((ckpt / f"{u}.json").read_text())["id"] == u
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)  # no checkpoint is reported corrupt
        res = calibrate_many(M1(), table, FREE, checkpoint_dir=ckpt, on_result=lambda u, r: seen.append(u), **OPTS)
    assert sorted(seen) == sorted(set(UNITS) - set(before))  # only the missing units were computed
    pd.testing.assert_frame_equal(res.table, uninterrupted, check_exact=True)
    assert _done_units(ckpt) == UNITS


@pytest.mark.slow  # two more JAX processes compiling the calibration; atomic checkpoint writes are
# covered by the SIGKILL test above and tests/test_calibrate_checkpoints.py
def test_two_concurrent_writers_do_not_corrupt_the_checkpoint_dir(table, uninterrupted, script, tmp_path):
    ckpt = tmp_path / "ckpt"
    procs = [_start(script, ckpt, pause=0.0) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "done" in out, err[-2000:]
    assert _done_units(ckpt) == UNITS
    assert not [p.name for p in ckpt.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
    keys = set()
    for u in UNITS:
        row = json.loads((ckpt / f"{u}.json").read_text())
        assert row["id"] == u and row["converged"] and row["key"]
        keys.add(row["key"])
    assert len(keys) == len(UNITS)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        res = calibrate_many(M1(), table, FREE, checkpoint_dir=ckpt, on_result=lambda u, r: seen.append(u), **OPTS)
    assert seen == []  # every unit was taken from the checkpoints
    pd.testing.assert_frame_equal(res.table, uninterrupted, check_exact=True)
