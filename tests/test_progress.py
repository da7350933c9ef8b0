"""Progress bars: the notebook widget only when ipywidgets can be imported (tqdm.auto would warn
"IProgress not found" in a notebook kernel without it), the text bar otherwise."""
import importlib.util
import warnings

import tqdm.std

from jaxoff import _progress


def test_text_bar_without_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = _progress.progress_bar(total=3, disable=True)
    assert type(bar) is tqdm.std.tqdm
    bar.close()


def test_bar_counts():
    import io
    bar = _progress.progress_bar(total=5, file=io.StringIO())
    bar.update(2)
    assert bar.n == 2
    bar.close()
