"""The command line: every subcommand runs, prints what it says, and fails helpfully."""
import json

import pytest

from jaxoff.cli import main


def test_models_lists_trading_tasks(capsys):
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "M1" in out["trading_tasks"]["submodels"]


def test_solve_json_matches_spec_oracle(capsys):
    assert main(["solve", "trading_tasks/M1", "--set", "beta=1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "converged"
    assert out["unknowns"]["I"] == pytest.approx((4 - 1.5) / (4 + 1.5), abs=1e-12)  # spec O2


def test_statics_table(capsys):
    assert main(["statics", "trading_tasks/M2", "--wrt", "beta", "--outputs", "w,s,p", "--kind", "elasticity",
                 "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["table"]
    assert table["w"]["beta"] == pytest.approx(-0.261333, abs=1e-6)  # spec O6


def test_describe_and_human_output(capsys):
    assert main(["describe", "trading_tasks/M1"]) == 0
    assert "beta * kappa >= 1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["solve", "trading_tasks/M1", "--set", "betta=1"], "Did you mean 'beta'"),
    (["solve", "trading_tasks/M1", "--set", "beta=-1"], "'beta > 0' fails"),
    (["solve", "trading_tasks/M1", "--set", "beta=abc"], "must be a number"),
    (["solve", "trading_tasks/M99"], "no sub-model 'M99'"),
    (["solve", "trade_tasks/M1"], "Did you mean 'trading_tasks'"),
    (["solve", "trading_tasks"], "family/ID"),
])
def test_bad_input_messages(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_demo_quick_runs(capsys):
    assert main(["demo", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "dw/dbeta" in out and "max |dlnw/dlnbeta - (-E(I))|" in out


@pytest.mark.slow
def test_demo_full_runs(capsys):
    """The README's main job end to end: the jo.sweep section and every family at its defaults."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "100,000 equilibria with dw/dbeta" in out and "converged 100.0%" in out
    assert out.count(": converged, residual") == 5
