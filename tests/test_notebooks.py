"""The example notebooks (examples/notebooks/): stored with their outputs, and still running.

``examples/notebooks/build_notebooks.py`` writes and executes them; the slow
test executes every stored notebook again with nbclient, so that an API
change that breaks one fails the suite instead of rotting it.
"""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "examples" / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kinds(nb) -> list:
    """Per code cell, the kinds of output it shows: stdout, figures, tables, errors.

    stderr is left out: warnings from libraries may come and go.
    """
    kinds = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        shown = set()
        for out in cell.outputs:
            if out.output_type == "stream":
                if out.name == "stdout":
                    shown.add("stdout")
            elif out.output_type == "error":
                shown.add("error")
            else:
                shown.update(k for k in out.get("data", {}) if k in ("image/png", "text/html"))
        kinds.append(shown)
    return kinds


def test_three_notebooks_are_stored_as_the_build_script_writes_them():
    builder = _builder()
    assert sorted(p.stem for p in PATHS) == sorted(builder.NOTEBOOKS)
    for path in PATHS:
        stored = nbformat.read(path, as_version=4)
        nbformat.validate(stored)
        assert [(c.cell_type, c.source) for c in stored.cells] == [
            ("markdown" if kind == "md" else "code", source) for kind, source in builder.NOTEBOOKS[path.stem]
        ], f"{path.name} is stale: run python examples/notebooks/build_notebooks.py"


def test_stored_notebooks_ran_top_to_bottom_without_errors():
    for path in PATHS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), path.name
        assert not any("error" in kinds for kinds in _kinds(nb)), path.name
        assert any("image/png" in kinds or "text/html" in kinds for kinds in _kinds(nb)), path.name


def test_docs_show_every_notebook_figure():
    figures = sorted((ROOT / "docs" / "figures").glob("0*_*-fig*.png"))
    assert len(figures) >= 4
    for path in PATHS:
        nb = nbformat.read(path, as_version=4)
        drawn = sum("image/png" in kinds for kinds in _kinds(nb))
        assert len([f for f in figures if f.name.startswith(path.stem + "-")]) == drawn, path.name
    docs = "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    referenced = set(re.findall(r"figures/([\w.-]+\.png)", docs))
    assert {f.name for f in figures} <= referenced, sorted({f.name for f in figures} - referenced)
    for name in referenced:
        assert (ROOT / "docs" / "figures" / name).exists(), name


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    builder = _builder()
    # the kernel imports this checkout's mushin
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    stored = nbformat.read(path, as_version=4)
    fresh = builder.execute(nbformat.read(path, as_version=4), str(tmp_path))  # raises on a failing cell
    # every cell shows the same kinds of output as the stored run: figures, tables, text
    assert _kinds(fresh) == _kinds(stored)
