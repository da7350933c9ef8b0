"""One home for progress bars: tqdm's notebook widget when ipywidgets is installed, its text bar
otherwise (tqdm.auto would warn "IProgress not found" in a notebook without ipywidgets)."""
from __future__ import annotations

import importlib.util


def progress_bar(**kwargs):
    """A tqdm progress bar (same keyword arguments as `tqdm.tqdm`)."""
    from tqdm.auto import tqdm as auto
    from tqdm.std import tqdm as text

    widget = importlib.util.find_spec("ipywidgets") is not None
    return (auto if widget else text)(**kwargs)
