"""The progress-bar class: tqdm's notebook bar where it can draw, its text bar otherwise.

``tqdm.auto`` picks the notebook widget inside Jupyter, but where ipywidgets
is missing it warns ("IProgress not found") on import, before any bar is
shown.  mushin only reaches for the widget when ipywidgets is installed, so
importing mushin in a notebook prints nothing.
"""
from __future__ import annotations

import importlib.util

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm.std import tqdm

__all__ = ["tqdm"]
