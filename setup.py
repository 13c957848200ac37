"""Build mushin's C extension (``mushin._core``) from ``csrc/``.

Only the extension lives here; all metadata is in ``pyproject.toml``.
Set ``MUSHIN_SANITIZE=1`` for an AddressSanitizer/UBSan build (see README).
"""
import os

import numpy as np
from setuptools import Extension, setup

extra_compile_args = ["-O3", "-Wall", "-Wextra", "-std=c11", "-fno-strict-aliasing"]
extra_link_args = []
if os.name == "posix":
    # csrc/parallel.c splits large updates over POSIX threads
    extra_compile_args.append("-pthread")
    extra_link_args.append("-pthread")
if os.environ.get("MUSHIN_SANITIZE"):
    extra_compile_args += ["-O1", "-g", "-fno-omit-frame-pointer",
                           "-fsanitize=address,undefined"]
    extra_link_args += ["-fsanitize=address,undefined"]

core = Extension(
    "mushin._core",
    sources=["csrc/_core.c", "csrc/confusion.c", "csrc/logits.c", "csrc/parallel.c", "csrc/stats.c",
             "csrc/ranktests.c", "csrc/scores.c"],
    include_dirs=["csrc", np.get_include()],
    extra_compile_args=extra_compile_args,
    extra_link_args=extra_link_args,
    libraries=["m"] if os.name == "posix" else [],
)

setup(ext_modules=[core])
