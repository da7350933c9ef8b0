"""`jo.sweep(checkpoint_dir=...)`: slices of the grid saved as they finish and loaded on a rerun.

Oracle: the plain local sweep with the same options; a checkpointed run must give the same frame
bit for bit, a rerun must compute nothing, and a corrupt or missing slice file must be recomputed
(with a warning naming the file), never trusted. Files are plain arrays (no pickle).
"""
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxoff as jo
from jaxoff.models.trading_tasks import SUBMODELS
from jaxoff.sweep._chunked import SweepCheckpointWarning

KW = dict(beta=np.linspace(1.5, 2.5, 100), derivatives=[("w", "beta")], progress=False, chunk_size=32)


@pytest.fixture(scope="module")
def local():
    return jo.sweep(SUBMODELS["M1"](), **KW)


def test_checkpointed_sweep_equals_local_and_resumes(local, tmp_path):
    m = SUBMODELS["M1"]()
    first = jo.sweep(m, checkpoint_dir=tmp_path, **KW)
    pd.testing.assert_frame_equal(first, local, check_exact=True)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 4 and first.attrs["slices_computed"] == 4  # 100 points in slices of 32
    again = jo.sweep(m, checkpoint_dir=tmp_path, **KW)
    assert again.attrs["slices_computed"] == 0
    pd.testing.assert_frame_equal(again, local, check_exact=True)
    # a truncated file and a missing one: both recomputed, the truncated one named in a warning
    (tmp_path / files[0]).write_bytes((tmp_path / files[0]).read_bytes()[:50])
    (tmp_path / files[1]).unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        third = jo.sweep(m, checkpoint_dir=tmp_path, **KW)
    assert third.attrs["slices_computed"] == 2
    assert any(isinstance(w.message, SweepCheckpointWarning) and files[0] in str(w.message) for w in caught)
    pd.testing.assert_frame_equal(third, local, check_exact=True)
    # another problem (a different base parameter) does not reuse these files
    other = jo.sweep(m.replace(p=0.95), checkpoint_dir=tmp_path, **KW)
    assert other.attrs["slices_computed"] == 4
    assert not np.allclose(other["w"], local["w"])


def test_bad_engine_name():
    with pytest.raises(ValueError, match="engine"):
        jo.sweep(SUBMODELS["M1"](), beta=[2.0], engine="dask", progress=False)
