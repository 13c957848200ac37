"""The README and every page in ``docs/`` work as written.

Convention (stated for writers in ``docs/design.md``, "Documentation"):

- Every fenced ```` ```python ```` block of ``README.md`` and ``docs/*.md``
  runs.  The blocks of one file run in order, in one namespace, in a fresh
  Python process whose working directory is an empty temporary folder: a
  page reads like a notebook, so a small block near its top can build the
  stand-ins (``val_loader``, ``fcn_models``) that later blocks use as written.
- A block directly preceded by ``<!-- skip: reason -->`` is not run; the
  reason is required (a cluster, a package CI does not install, a trained
  model).  Shell commands go in ```` ```bash ```` blocks and are not run here.
- A page with a line ``<!-- docs-test: slow -->`` is run only with the slow
  tests (``-m slow``).
- Every relative link and image (``[text](path)``, ``![alt](path)``) resolves
  to an existing file or folder.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
SKIP = re.compile(r"^\s*<!--\s*skip\s*:\s*(?P<reason>.*?)\s*-->\s*$")
SLOW_MARK = "<!-- docs-test: slow -->"
# [text](target) and ![alt](target); the target stops at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _blocks(path: Path):
    """Yield (first_line_number, language, source, skip_reason) per fenced block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: fenced block never closed")
        prev = i - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        skip = SKIP.match(lines[prev]) if prev >= 0 else None
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[start:j])
        yield start + 1, lang, body, (skip.group("reason") if skip else None)
        i = j + 1


def _outside_fences(path: Path):
    """Yield (line_number, line) for lines that are not inside a fenced block."""
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line) or (inside and line.strip() == "```"):
            inside = not inside
            continue
        if not inside:
            yield number, line


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _page_params():
    params = []
    for page in PAGES:
        slow = any(line.strip() == SLOW_MARK for line in page.read_text(encoding="utf-8").splitlines())
        marks = [pytest.mark.slow] if slow else []
        params.append(pytest.param(page, id=_page_id(page), marks=marks))
    return params


# Runs the blocks with their own file name and line numbers, so a failing
# block's traceback points at the line of the page that failed.
RUNNER = textwrap.dedent(
    """
    import json, sys
    blocks = json.loads(sys.stdin.read())
    # the real __main__, so that functions a page defines can be pickled
    namespace = sys.modules["__main__"].__dict__
    for name, line, source in blocks:
        code = compile("\\n" * (line - 1) + source, name, "exec")
        exec(code, namespace)
    """
)


def test_pages_found():
    names = {p.name for p in PAGES}
    assert {"README.md", "segmentation.md", "design.md"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_skip_markers_give_a_reason(page):
    for number, _lang, _src, reason in _blocks(page):
        assert reason is None or reason.strip(), f"{page.name}:{number}: <!-- skip: --> needs a reason"


def _runnable_blocks(page: Path) -> list:
    return [
        (str(page), line, source)
        for line, lang, source, reason in _blocks(page)
        if lang in ("python", "py") and reason is None
    ]


def _run_page(page: Path, workdir: Path) -> subprocess.CompletedProcess:
    import json

    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(_runnable_blocks(page)),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory):
    """Run every selected page at once: most of a page's time is importing torch."""
    from concurrent.futures import ThreadPoolExecutor

    pages = [
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_python_blocks_run_as_written"
    ]
    pages = [p for p in dict.fromkeys(pages) if _runnable_blocks(p)]
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        futures = {p: pool.submit(_run_page, p, tmp_path_factory.mktemp(p.stem)) for p in pages}
    return {p: f.result() for p, f in futures.items()}


@pytest.mark.parametrize("page", _page_params())
def test_python_blocks_run_as_written(page, page_runs):
    if not _runnable_blocks(page):
        pytest.skip(f"{page.name} has no runnable python block")
    proc = page_runs[page]
    assert proc.returncode == 0, f"a python block of {page.name} failed:\n{proc.stderr[-6000:]}"


def _findings(page: Path, pattern: re.Pattern, is_wrong) -> list:
    """``page:line: match`` for each match of ``pattern`` outside code fences that ``is_wrong``."""
    return [
        f"{page.name}:{number}: {found}"
        for number, line in _outside_fences(page)
        for found in pattern.findall(line)
        if is_wrong(found)
    ]


# a URL (https:, mailto:) or an anchor on the same page: not a file to check
URL_OR_ANCHOR = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)")


def _broken_links(page: Path) -> list:
    def missing(target: str) -> bool:
        return not URL_OR_ANCHOR.match(target) and not (page.parent / target.split("#", 1)[0]).exists()

    return _findings(page, LINK, missing)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_resolve(page):
    broken = _broken_links(page)
    assert not broken, "links to missing files:\n" + "\n".join(broken)


# `csrc/kernels/stats.c`, `tests/test_study.py`, `examples/`: an inline code
# span that names a file or folder of this repository must name one that
# exists, so a moved file cannot leave a page pointing at its old place.
REPO_PATH = re.compile(r"`((?:csrc|mushin|tests|examples|benchmarks|docs)/[^`\s]*)`")
# a pattern such as `tests/bad_inputs/cases_*.py`: not a path to check
PLACEHOLDER = re.compile(r"[<>*{}]|\.\.\.")


def _stale_paths(page: Path, root: Path = ROOT) -> list:
    return _findings(
        page, REPO_PATH, lambda path: not PLACEHOLDER.search(path) and not (root / path.rstrip("/")).exists()
    )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_repository_paths_exist(page):
    stale = _stale_paths(page)
    assert not stale, "paths that are not in the repository:\n" + "\n".join(stale)


# `mushin.stats.min_pvalue`, `mushin._core.RocScores`: a dotted name in an
# inline code span must resolve, so a renamed function cannot linger in prose.
# upstream-notes.md describes the published mushin-py, whose names differ.
DOTTED = re.compile(r"`(mushin(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
FOREIGN_NAMES = {"upstream-notes.md"}


def _resolves(name: str) -> bool:
    """Whether a dotted name is a module, or an attribute path from the longest importable one."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _unresolved_names(page: Path) -> list:
    return _findings(page, DOTTED, lambda name: not _resolves(name))


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in FOREIGN_NAMES], ids=_page_id)
def test_dotted_mushin_names_resolve(page):
    missing = _unresolved_names(page)
    assert not missing, "names that mushin does not have:\n" + "\n".join(missing)


def test_block_parser_reads_skip_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nx = 1\n```\n\n<!-- skip: needs a cluster -->\n```python\nboom()\n```\n"
        "- item\n\n  ```python\n  y = 2\n  ```\n"
    )
    blocks = list(_blocks(page))
    assert [(b[0], b[1], b[2], b[3]) for b in blocks] == [
        (4, "python", "x = 1", None),
        (9, "python", "boom()", "needs a cluster"),
        (14, "python", "y = 2", None),
    ]


def test_link_checker_finds_a_missing_file(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("")
    page.write_text("[ok](there.md#part) [url](https://x.org) [gone](missing.md)\n```\n[in code](nope.md)\n```\n")
    assert _broken_links(page) == ["page.md:1: missing.md"]


def test_path_checker_finds_a_moved_file(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_here.py").write_text("")
    page = tmp_path / "page.md"
    page.write_text("`tests/test_here.py` `tests/test_gone.py` `tests/cases_*.py` `mushin.stats`\n")
    assert _stale_paths(page, root=tmp_path) == ["page.md:1: tests/test_gone.py"]


def test_name_checker_finds_a_missing_name(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("`mushin.stats.min_pvalue` and `mushin.stats.no_such_test(x)`\n")
    assert _unresolved_names(page) == ["page.md:1: mushin.stats.no_such_test"]
