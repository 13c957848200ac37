"""Every entry point of the plain-C kernels is reached by a C-only test.

An entry point is a non-static function declared in a kernel header
(``csrc/kernels/*.h``; ``csrc/*.h`` where a header has not moved there yet),
except the ``*_internal.h`` headers, which say of themselves that they are
not part of the kernel API.  A test reaches one when some file under
``csrc/tests/`` calls it.  Run as a script to print the coverage::

    python tests/test_c_entry_coverage.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')
_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_DECLARATION = re.compile(r"\s*(?P<head>[\w\s*]*?)\b(?P<name>mushin_\w+)\s*\((?P<args>[^()]*)\)\s*", re.S)


def _code(text: str) -> str:
    """C source without comments, string literals and preprocessor lines."""
    text = _COMMENT.sub(" ", text)
    text = _STRING.sub('""', text)
    return _DIRECTIVE.sub(" ", text)


def kernel_headers() -> list[Path]:
    headers = sorted((CSRC / "kernels").glob("*.h")) + sorted(CSRC.glob("*.h"))
    return [h for h in headers if not h.name.endswith("_internal.h")]


def entry_points() -> dict[str, Path]:
    """{function name: header} of every non-static function the kernel
    headers declare (prototypes; a static inline helper has a body and a
    `static`, and is not an entry point)."""
    found: dict[str, Path] = {}
    for header in kernel_headers():
        # a prototype is a whole statement: split on ; and braces
        for statement in re.split(r"[;{}]", _code(header.read_text())):
            m = _DECLARATION.fullmatch(statement)
            if m is None or not m["head"].strip():
                continue  # a call inside a macro or no return type: not a prototype
            if re.search(r"\b(static|typedef|return)\b", m["head"]):
                continue
            found.setdefault(m["name"], header)
    return found


def c_test_files() -> list[Path]:
    return sorted((CSRC / "tests").rglob("*.c"))


def callers(names) -> dict[str, list[Path]]:
    sources = {path: _code(path.read_text()) for path in c_test_files()}
    return {
        name: [path for path, code in sources.items() if re.search(rf"\b{name}\s*\(", code)]
        for name in names
    }


def test_the_headers_declare_entry_points():
    # a parser that finds nothing would make the next test pass vacuously
    points = entry_points()
    assert len(points) >= 40, sorted(points)
    for expected in ("mushin_confusion_count", "mushin_fixed_add", "mushin_auroc",
                     "mushin_wilcoxon_test", "mushin_rank_sum_counts", "mushin_t_ppf"):
        assert expected in points


def test_every_kernel_entry_point_is_called_from_a_c_test():
    points = entry_points()
    missing = sorted(
        f"{name} ({points[name].relative_to(ROOT)})"
        for name, paths in callers(points).items()
        if not paths
    )
    assert not missing, (
        f"{len(missing)} of {len(points)} kernel entry points are not called from any "
        f"file under csrc/tests/: " + ", ".join(missing)
    )


def main() -> int:
    points = entry_points()
    reached = callers(points)
    for name in sorted(points):
        where = ", ".join(p.name for p in reached[name]) or "-- NOT REACHED"
        print(f"{points[name].relative_to(ROOT)}  {name}: {where}")
    done = sum(bool(v) for v in reached.values())
    print(f"{done} of {len(points)} entry points reached")
    return 0 if done == len(points) else 1


if __name__ == "__main__":
    sys.exit(main())
