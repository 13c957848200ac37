"""Build mushin's C extension (``mushin._core``) from ``csrc/``.

Only the extension lives here; all metadata is in ``pyproject.toml``.
Set ``MUSHIN_SANITIZE=1`` for an AddressSanitizer/UBSan build (``make
sanitize`` builds it and runs the test suite under it; see README).
"""
import glob
import os

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# -ffp-contract=off: clang (and gcc outside ISO mode) would fuse a*b + c into
# one FMA where the target allows it, rounding once instead of twice; the
# kernels must round as NumPy does, on every instruction set.
extra_compile_args = ["-O3", "-Wall", "-Wextra", "-std=c11", "-fno-strict-aliasing", "-ffp-contract=off"]
extra_link_args = []
if os.name == "posix":
    # csrc/kernels/parallel.c splits large updates over POSIX threads
    extra_compile_args.append("-pthread")
    extra_link_args.append("-pthread")
if os.environ.get("MUSHIN_SANITIZE"):
    # -O1 keeps stack traces readable.  UBSan stops the process at its first
    # report, as ASan does: with ASan loaded, gcc's UBSan ignores log_path
    # and writes to stderr, which pytest or a test's subprocess may swallow,
    # so a report that only printed could pass unseen.
    extra_compile_args += ["-O1", "-g", "-fno-omit-frame-pointer",
                           "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    extra_link_args += ["-fsanitize=address,undefined"]


class build_ext_without_fwrapv(build_ext):
    """build_ext minus CPython's ``-fwrapv``.

    CPython is built with -fwrapv and sysconfig hands that flag to every
    extension.  The kernels must not rely on signed overflow wrapping, and
    with -fwrapv UBSan cannot see it (it is then defined behaviour), so the
    flag is dropped for mushin's own code.
    """

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            # MSVC takes its own spelling of the same intent: ISO C11, full
            # optimisation, no contraction into FMA (/fp:precise, which since
            # Visual Studio 2022 contracts only under /fp:contract).  No
            # pthreads: csrc/kernels/parallel.c runs the chunks in order.
            for ext in self.extensions:
                ext.extra_compile_args = ["/O2", "/std:c11", "/fp:precise", "/W3"]
                ext.extra_link_args = []
                ext.libraries = []
        for attr in ("compiler_so", "compiler", "compiler_cxx"):
            args = getattr(self.compiler, attr, None)
            if isinstance(args, list):
                setattr(self.compiler, attr, [a for a in args if a != "-fwrapv"])
        super().build_extensions()


# csrc/kernels/: plain C, no Python.h; csrc/glue/: the CPython extension,
# one file per concern.  Every .c of both goes in.
SOURCES = sorted(glob.glob("csrc/kernels/*.c")) + sorted(glob.glob("csrc/glue/*.c"))

core = Extension(
    "mushin._core",
    sources=SOURCES,
    include_dirs=["csrc", "csrc/kernels", "csrc/glue", np.get_include()],
    extra_compile_args=extra_compile_args,
    extra_link_args=extra_link_args,
    libraries=["m"] if os.name == "posix" else [],
)

setup(ext_modules=[core], cmdclass={"build_ext": build_ext_without_fwrapv})
