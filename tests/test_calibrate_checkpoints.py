"""calibrate_many checkpoints: keyed by the problem (a changed target is recomputed, never reused),
corrupt/empty files named in a warning and recomputed, unit ids as safe file names."""
import json

import numpy as np
import pandas as pd
import pytest
from test_calibrate import FREE, SK, targets_at

from jaxoff.calibrate import CalibrationWarning, calibrate_many
from jaxoff.calibrate._many import safe_name
from jaxoff.models.trading_tasks import SUBMODELS

M1 = SUBMODELS["M1"]


def test_safe_names_do_not_escape():
    assert safe_name("sub/dir") == "sub%2Fdir.json"
    for uid in ("../x", "..", ".", "/etc/passwd", "a\\b", "é"):
        n = safe_name(uid)
        assert "/" not in n and "\\" not in n and not n.startswith(".")


def test_checkpoints_are_keyed_verified_and_corruption_is_named(tmp_path):
    df = pd.DataFrame.from_dict({"sub/dir": targets_at(1.6, 0.9), "B": targets_at(2.1, 0.9)}, orient="index")
    ck = tmp_path / "ck"
    first = calibrate_many(M1(), df, FREE, checkpoint_dir=ck, progress=False, solve_kwargs=SK)
    assert (ck / "sub%2Fdir.json").exists() and not first.failed
    seen = []
    calibrate_many(M1(), df, FREE, checkpoint_dir=ck, progress=False, solve_kwargs=SK,
                   on_result=lambda u, r: seen.append(u))
    assert seen == []  # same problem: resumed from the checkpoints
    (ck / "B.json").write_text('{"beta": 2.1, "conv')  # truncated
    df2 = df.copy()
    df2.loc["sub/dir", "g"] = targets_at(1.8, 0.9)["g"]  # a changed target
    with pytest.warns(CalibrationWarning) as rec:
        out = calibrate_many(M1(), df2, FREE, checkpoint_dir=ck, progress=False, solve_kwargs=SK,
                             on_result=lambda u, r: seen.append(u))
    msgs = " ".join(str(r.message) for r in rec)
    assert "B.json" in msgs and "corrupt" in msgs and "different problem" in msgs
    assert sorted(seen) == ["B", "sub/dir"]
    np.testing.assert_allclose(out.table.loc["B", "beta"], 2.1, rtol=1e-7)
    # a forged row (moments that do not hold at its parameters) is not trusted
    row = json.loads((ck / "B.json").read_text())
    row["beta"] = 2.5
    (ck / "B.json").write_text(json.dumps(row))
    with pytest.warns(CalibrationWarning, match="do not hold"):
        out = calibrate_many(M1(), df2, FREE, checkpoint_dir=ck, progress=False, solve_kwargs=SK)
    np.testing.assert_allclose(out.table.loc["B", "beta"], 2.1, rtol=1e-7)
