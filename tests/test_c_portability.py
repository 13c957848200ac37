"""The C sources name a compiler only through csrc/kernels/portable_internal.h.

Binary wheels are built with GCC, Clang and MSVC, so a GCC-only construct
(an overflow builtin, ``__int128``, an attribute, ``<pthread.h>``) must go
through the header's portable names, which have a fallback for every
compiler.  This test reads every C file the extension and the fuzz
harnesses are built from and fails on such a construct outside the header.
``make portability`` compiles and runs the same sources with the fallbacks
forced on; this scan is the cheap half that runs in the default suite.

Run as a script to list every remaining construct::

    python tests/test_c_portability.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
HEADER = CSRC / "kernels" / "portable_internal.h"

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)

# construct -> the portable name that replaces it
CONSTRUCTS = {
    r"__builtin_(add|sub|mul)_overflow": "mushin_{add,sub,mul}_overflow_i64",
    r"__builtin_prefetch": "MUSHIN_PREFETCH",
    r"__builtin_trap": "MUSHIN_TRAP",
    r"__builtin_ctzll?": "mushin_ctz64",
    r"__builtin_cpu_supports|__get_cpuid|__cpuid\b|<cpuid\.h>": "mushin_cpu_features",
    r"__builtin_\w+": "a portable_internal.h name",
    r"__attribute__\s*\(\(\s*always_inline": "MUSHIN_ALWAYS_INLINE",
    r"__attribute__\s*\(\(\s*target": "MUSHIN_TARGET_AVX2 / MUSHIN_TARGET_AVX512",
    r"__attribute__": "a portable_internal.h macro",
    r"__int128": "mushin_u128 and mushin_mul_wide_u64",
    r"__atomic_\w+": "MUSHIN_ATOMIC_LOAD_INT / MUSHIN_ATOMIC_STORE_INT",
    r"\bM_PI\b": "MUSHIN_PI",
    r"\bM_[A-Z0-9_]+\b": "a MUSHIN_ constant of portable_internal.h (M_* are POSIX, not ISO C)",
    r"<pthread\.h>": "a thread shim (csrc/kernels/parallel.c guards it today)",
    r"__asm__|\basm\s*\(": "a portable_internal.h function",
    r"__declspec|__forceinline": "a portable_internal.h macro",
}

# Constructs still used directly in files kept by the kernel-speed work,
# each behind its own #if guard.  The list may only shrink: the test fails
# on a construct not listed here, and on a listed one that is gone.
KNOWN = {
    "csrc/kernels/confusion.c": {
        r"__builtin_(add|sub|mul)_overflow",
        r"__builtin_prefetch",
        r"__builtin_cpu_supports|__get_cpuid|__cpuid\b|<cpuid\.h>",
        r"__atomic_\w+",
    },
    "csrc/kernels/confusion_internal.h": {
        r"__builtin_prefetch",
        r"__attribute__\s*\(\(\s*always_inline",
        r"__attribute__\s*\(\(\s*target",
    },
    "csrc/kernels/logits.c": {r"__builtin_ctzll?"},
    "csrc/kernels/parallel.c": {r"<pthread\.h>", r"__atomic_\w+"},
}


def c_sources() -> list[Path]:
    """Every C file of the extension and the fuzz harnesses.  csrc/tests/
    is left out: it uses the compilers' own builtins as oracles for the
    fallbacks, behind #if guards."""
    files = []
    for folder in ("kernels", "glue", "fuzz"):
        files += sorted((CSRC / folder).rglob("*.[ch]"))
    return [f for f in files if f != HEADER and "dlpack/" not in f.as_posix()[len(CSRC.as_posix()):]]


def constructs_in(path: Path) -> dict[str, list[int]]:
    """{construct pattern: line numbers} outside comments."""
    text = path.read_text()
    code = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    found: dict[str, list[int]] = {}
    for lineno, line in enumerate(code.splitlines(), 1):
        for pattern in CONSTRUCTS:
            if re.search(pattern, line):
                found.setdefault(pattern, []).append(lineno)
                break  # the most specific pattern names the line
    return found


def test_scan_sees_the_constructs_it_forbids(tmp_path):
    sample = tmp_path / "sample.c"
    sample.write_text(
        "/* __builtin_trap() in a comment is fine */\n"
        "static int f(long a, long b, long *c) { return __builtin_add_overflow(a, b, c); }\n"
        "typedef unsigned __int128 wide;\n"
        "static inline __attribute__((always_inline)) int g(void) { return 0; }\n"
        "#include <pthread.h>\n"
        "double h(void) { return M_PI; }\n"
        "double k(void) { return M_SQRT1_2; }\n"
    )
    assert constructs_in(sample) == {
        r"__builtin_(add|sub|mul)_overflow": [2],
        r"__int128": [3],
        r"__attribute__\s*\(\(\s*always_inline": [4],
        r"<pthread\.h>": [5],
        r"\bM_PI\b": [6],
        r"\bM_[A-Z0-9_]+\b": [7],
    }


def test_vendored_dlpack_header_is_the_only_file_left_out():
    scanned = {p.relative_to(ROOT).as_posix() for p in c_sources()}
    assert "csrc/glue/dlpack.c" in scanned
    assert "csrc/kernels/regression.c" in scanned
    assert "csrc/fuzz/fuzz_common.h" in scanned
    assert not any("dlpack/" in s for s in scanned)


def test_c_sources_use_portable_names_only():
    problems = []
    for path in c_sources():
        rel = path.relative_to(ROOT).as_posix()
        allowed = KNOWN.get(rel, set())
        for pattern, lines in constructs_in(path).items():
            if pattern not in allowed:
                problems.append(f"{rel}:{lines[0]}: use {CONSTRUCTS[pattern]} instead of /{pattern}/")
    assert not problems, "compiler-specific C outside portable_internal.h:\n" + "\n".join(problems)


def test_known_constructs_are_still_there():
    """A construct moved to the header must leave KNOWN too."""
    stale = []
    for rel, patterns in KNOWN.items():
        path = ROOT / rel
        present = constructs_in(path) if path.exists() else {}
        stale += [f"{rel}: /{p}/" for p in sorted(patterns) if p not in present]
    assert not stale, "KNOWN lists constructs that are gone; remove them:\n" + "\n".join(stale)


if __name__ == "__main__":
    for path in c_sources():
        for pattern, lines in constructs_in(path).items():
            print(f"{path.relative_to(ROOT)}: {pattern} at lines {lines}")
    sys.exit(0)
