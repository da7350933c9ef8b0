"""Execute every notebook under notebooks/ on CPU, top to bottom, and check it is committed clean.

A notebook that needs a module which does not exist yet names it in its metadata
(`metadata["jaxoff"]["requires"]`, e.g. ["jaxoff.calibrate"]); it is skipped with that reason, and
only then. Each notebook gets its own kernel and a time limit (JAXOFF_NOTEBOOK_TIMEOUT seconds,
default 600, generous because the test machine is shared; the notebooks take well under a minute
each on a quiet machine).
"""
import importlib.util
import os
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT = int(os.environ.get("JAXOFF_NOTEBOOK_TIMEOUT", "600"))
MAX_BYTES = 60_000  # committed notebooks are code and prose only: outputs stripped
# Each executed notebook pays a kernel start, a JAX import and its own compilations (30-90 s of CPU):
# the default run executes the quickstart as the smoke test of the notebook machinery; these run
# with JAXOFF_SLOW=1 (their content is covered by the families' and the API's own tests).
SLOW_NOTEBOOKS = {"02_comparative_statics", "03_your_own_model", "04_calibration_oecd", "05_gpu_sweeps",
                  "06_nafta", "07_gravity"}


def _missing(nb) -> list[str]:
    req = nb.metadata.get("jaxoff", {}).get("requires", [])
    out = []
    for name in req:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            out.append(name)
    return out


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    for want in ("01_quickstart.ipynb", "02_comparative_statics.ipynb", "03_your_own_model.ipynb",
                 "04_calibration_oecd.ipynb", "05_gpu_sweeps.ipynb"):
        assert want in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert path.stat().st_size < MAX_BYTES
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW_NOTEBOOKS else [])
                                  for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    missing = _missing(nb)
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, which does not exist yet")
    env_backup = {k: os.environ.get(k) for k in ("JAX_PLATFORMS", "MPLBACKEND")}
    os.environ["JAX_PLATFORMS"] = "cpu"  # inherited by the kernel: the suite runs on CPU
    os.environ.pop("MPLBACKEND", None)  # figures render inline, as a user sees them (pytest may set Agg)
    try:
        deadline = time.monotonic() + TIMEOUT
        # nbclient's own timeout is per cell; the budget here is per notebook.
        client = nbclient.NotebookClient(
            nb, kernel_name="python3", timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
            resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
