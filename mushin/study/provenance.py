"""Where a training run ran: code version, software, hardware (``Study(capture_env=True)``).

Each record is captured by the process that trains the run (a cluster
worker, when there is an executor), right before ``train_fn`` is called, so
it describes that machine.  Capturing never fails a run: whatever cannot be
read is recorded as ``None``.

Examples
--------
>>> from mushin.study.provenance import capture_environment
>>> record = capture_environment()
>>> sorted(record)
['cpu', 'git', 'gpu', 'packages', 'platform', 'python', 'threads', 'versions']
>>> record["versions"]["python"] == record["python"]["version"]
True
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List, Optional

import torch

from .. import threads

__all__ = ["capture_environment", "environment_id", "git_state", "source_dir"]

GIT_TIMEOUT_S = 10


def _git(args: List[str], cwd: str) -> Optional[str]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(directory: Optional[str] = None) -> Dict[str, Any]:
    """``{"commit", "dirty", "root"}`` of the git checkout holding ``directory``.

    ``dirty`` is True when tracked files differ from the commit; untracked
    files are not counted (a study's own checkpoints and manifest, inside the
    checkout, would otherwise always count).  All ``None`` outside a checkout
    or without git; ``dirty`` is ``None`` when it could not be checked, never
    a guess of False.
    """
    cwd = directory if directory and os.path.isdir(directory) else os.getcwd()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {"commit": None, "dirty": None, "root": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    root = _git(["rev-parse", "--show-toplevel"], cwd)
    return {
        "commit": commit.strip(),
        "dirty": None if status is None else bool(status.strip()),
        "root": None if root is None else root.strip(),
    }


def _cpu_model() -> Optional[str]:
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    if key.strip() in ("model name", "Processor", "cpu model"):
                        return value.strip()
        elif sys.platform == "darwin":
            done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                  text=True, timeout=GIT_TIMEOUT_S, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or None


def _gpus() -> Dict[str, Any]:
    out: Dict[str, Any] = {"cuda": torch.version.cuda, "devices": []}
    try:
        if torch.cuda.is_available():
            out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            out["devices"] = ["mps"]
    except Exception:  # e.g. CUDA cannot be initialised in a forked worker
        out["devices"] = None
    return out


@functools.lru_cache(maxsize=None)
def _installed_packages() -> Dict[str, str]:
    packages: Dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if name:
            packages.setdefault(name, dist.version)
    return dict(sorted(packages.items(), key=lambda item: item[0].lower()))


def _version_of(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def capture_environment(code_dir: Optional[str] = None) -> Dict[str, Any]:
    """A JSON-ready record of this process's environment.

    Parameters
    ----------
    code_dir : str, optional
        A folder inside the git checkout of the training code (default: the
        current directory).

    Returns
    -------
    dict
        ``git`` (commit, dirty, root), ``python`` (version, implementation,
        executable), ``versions`` (python, torch, mushin, numpy), ``packages``
        (every installed distribution: version), ``platform``, ``cpu``
        (model, logical cores), ``gpu`` (CUDA version, device names) and
        ``threads`` (torch intra-op and inter-op, mushin's C core, and the
        ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` settings).
    """
    from .. import __version__ as mushin_version  # the package is imported by the time a run starts

    return {
        "git": git_state(code_dir),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "mushin": mushin_version,
            "numpy": _version_of("numpy"),
        },
        "packages": dict(_installed_packages()),
        "platform": {"system": platform.platform(), "machine": platform.machine(), "node": platform.node()},
        "cpu": {"model": _cpu_model(), "logical_cores": os.cpu_count()},
        "gpu": _gpus(),
        "threads": {
            "torch": torch.get_num_threads(),
            "torch_interop": torch.get_num_interop_threads(),
            "mushin": threads.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
        },
    }


def environment_id(record: Dict[str, Any]) -> str:
    """A short content hash: runs that trained in the same environment share one record."""
    text = json.dumps(record, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def source_dir(fn: Any) -> Optional[str]:
    """The folder of the file defining ``fn`` (through partials and methods), for :func:`git_state`."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    target = getattr(fn, "__func__", fn)
    if not (inspect.isfunction(target) or inspect.isclass(target)):
        target = type(fn)
    try:
        path = inspect.getsourcefile(target)
    except (TypeError, OSError):
        return None
    return os.path.dirname(os.path.abspath(path)) if path else None
