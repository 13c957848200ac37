"""The study's ``manifest.json``: atomic writes, checkpoint storage and the checks on reading it."""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Optional, Tuple

from .checks import PathLike


MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CHECKPOINT_DIR = "checkpoints"



def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: PathLike, payload: Any) -> None:
    """Replace ``path`` with ``payload`` as JSON so that it is never seen half written.

    The text goes to a temporary file in the same directory, is flushed to
    disk, and is renamed over ``path`` (an atomic replace on POSIX and
    Windows).  A crash at any instant leaves either the old or the new file.
    """
    path = Path(path)
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


# ------------------------------------------------------------ checkpoint --

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _safe_dirname(method: str) -> str:
    safe = _SAFE_NAME.sub("_", method).strip(".") or "method"
    if safe != method:
        # keep "a/b" and "a_b" apart
        safe += "-" + hashlib.sha1(method.encode("utf-8")).hexdigest()[:8]
    return safe


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _store_checkpoint(returned: Any, method: str, seed: int, working_dir: Path) -> Tuple[str, str]:
    """Check what ``train_fn`` returned and put it under its stable name.

    Returns ``(stable_path, returned_path)``.  A checkpoint written inside
    ``working_dir`` is moved (a rename, no copy); one written elsewhere is
    copied, leaving the original alone.  Either way the stable name appears
    atomically: a file at the stable path is always a complete checkpoint.
    """
    where = f"train_fn of method {method!r} for seed {seed}"
    if returned is None:
        raise TypeError(
            f"{where} returned None; it must return the path of the checkpoint it saved "
            "(e.g. `torch.save(model, path); return path`)"
        )
    if not isinstance(returned, (str, os.PathLike)):
        hint = ""
        if callable(returned) or hasattr(returned, "state_dict"):
            hint = "; it looks like the model itself: save it and return the file's path"
        raise TypeError(f"{where} returned a {type(returned).__name__}, not a path{hint}")
    source = Path(os.path.abspath(os.fspath(returned)))
    if not source.exists():
        raise FileNotFoundError(f"{where} returned {os.fspath(returned)!r}, but no such file or directory exists")
    if source == working_dir or source in working_dir.parents:
        raise ValueError(
            f"{where} returned {os.fspath(returned)!r}, which contains the study's working_dir "
            f"{str(working_dir)!r}; return the checkpoint file, or a folder of its own"
        )
    suffix = source.suffix if source.is_file() else ""
    stable = working_dir / CHECKPOINT_DIR / _safe_dirname(method) / f"seed-{seed}{suffix}"
    if source == stable:
        return str(stable), str(source)
    stable.parent.mkdir(parents=True, exist_ok=True)
    staging = stable.with_name(f".{stable.name}.{uuid.uuid4().hex}.tmp")
    inside = working_dir in source.parents
    try:
        if inside:
            os.replace(source, staging)
        elif source.is_dir():
            shutil.copytree(source, staging)
        else:
            shutil.copy2(source, staging)
        if staging.is_dir() and stable.exists():
            # os.replace cannot put a directory over a non-empty one: move the old one aside first
            old = stable.with_name(f".{stable.name}.{uuid.uuid4().hex}.old")
            os.replace(stable, old)
            os.replace(staging, stable)
            _remove_path(old)
        else:
            os.replace(staging, stable)
    except BaseException:
        _remove_path(staging)
        raise
    return str(stable), str(source)


# ------------------------------------------------------ manifest checks --
# The manifest decides which files are loaded as models and which old files
# are deleted, so it is checked whole before anything acts on it: a damaged
# or edited one must not point the study at another run's checkpoint or at
# a file outside working_dir.

RUN_STATUSES = ("started", "done", "failed", "cancelled")
_SEED_KEY = re.compile(r"-?[0-9]+")


def _damaged(path: Path, what: str) -> str:
    return (
        f"the study manifest {path} is damaged: {what}.  Restore it from a backup, or delete "
        "it to train every run again"
    )


def _checkpoint_problem(checkpoint: str, method: str, seed: str, working_dir: Path) -> Optional[str]:
    """Why ``checkpoint`` is not run (method, seed)'s own file inside ``working_dir``, or None."""
    relative = Path(checkpoint)
    if relative.is_absolute() or ".." in relative.parts:
        return "it is not a path inside working_dir"
    folder = Path(CHECKPOINT_DIR) / _safe_dirname(method)
    stem = f"seed-{seed}"
    own_name = relative.name == stem or (relative.name.startswith(stem + ".") and relative.stem == stem)
    if relative.parent != folder or not own_name:
        return f"it is not this run's own file {folder / stem}<suffix>"
    real = os.path.realpath(working_dir / relative)
    if os.path.commonpath([real, os.path.realpath(working_dir)]) != os.path.realpath(working_dir):
        return f"it is a link to {real}, outside working_dir"
    return None


def _check_manifest(manifest: Any, path: Path, working_dir: Path) -> None:
    """Raise ``ValueError`` unless ``manifest`` is a well-formed study manifest."""
    if not isinstance(manifest, dict):
        raise ValueError(_damaged(path, f"it holds a JSON {type(manifest).__name__}, not an object"))
    if "format" not in manifest:
        raise ValueError(_damaged(path, "it has no 'format' key"))
    if manifest["format"] != MANIFEST_FORMAT:
        raise ValueError(
            f"the study manifest {path} has format {manifest['format']!r}, but this mushin reads "
            f"format {MANIFEST_FORMAT}: it was written by another version of mushin.  Use that "
            "version, another working_dir, or delete the manifest to train every run again"
        )
    for key, kind in (("seeds", (list, type(None))), ("methods", dict), ("runs", dict)):
        if key not in manifest:
            raise ValueError(_damaged(path, f"it has no {key!r} key"))
        if not isinstance(manifest[key], kind):
            raise ValueError(_damaged(path, f"{key!r} is a JSON {type(manifest[key]).__name__}"))
    for i, seed in enumerate(manifest["seeds"] or []):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(_damaged(path, f"seeds[{i}] is {seed!r}, not an int"))
    environments = manifest.get("environments", {})  # capture_env=True: {id: record}
    if not isinstance(environments, dict):
        raise ValueError(_damaged(path, f"'environments' is a JSON {type(environments).__name__}"))
    for env_id, env in environments.items():
        if not isinstance(env, dict):
            raise ValueError(_damaged(path, f"environments[{env_id!r}] is a JSON {type(env).__name__}, not an object"))
    for name, entry in manifest["methods"].items():
        if not isinstance(entry, dict):
            raise ValueError(_damaged(path, f"methods[{name!r}] is a JSON {type(entry).__name__}, not an object"))
    for method, runs in manifest["runs"].items():
        if not isinstance(runs, dict):
            raise ValueError(_damaged(path, f"runs[{method!r}] is a JSON {type(runs).__name__}, not an object"))
        for seed, record in runs.items():
            where = f"runs[{method!r}][{seed!r}]"
            if not _SEED_KEY.fullmatch(seed):
                raise ValueError(_damaged(path, f"{where}: the seed {seed!r} is not an int"))
            if not isinstance(record, dict):
                raise ValueError(_damaged(path, f"{where} is a JSON {type(record).__name__}, not an object"))
            status = record.get("status")
            if status not in RUN_STATUSES:
                raise ValueError(_damaged(path, f"{where}['status'] is {status!r}, not one of {list(RUN_STATUSES)}"))
            checkpoint = record.get("checkpoint")
            if checkpoint is None and status == "done":
                raise ValueError(_damaged(path, f"{where} is done but names no checkpoint"))
            if checkpoint is not None and not isinstance(checkpoint, str):
                raise ValueError(_damaged(path, f"{where}['checkpoint'] is {checkpoint!r}, not a path"))
            for key, kind in (("code_hash", str), ("error", dict)):
                value = record.get(key)
                if value is not None and not isinstance(value, kind):
                    raise ValueError(_damaged(path, f"{where}[{key!r}] is a JSON {type(value).__name__}"))
            env_id = record.get("environment")
            if env_id is not None and (not isinstance(env_id, str) or env_id not in environments):
                raise ValueError(_damaged(path, f"{where}['environment'] is {env_id!r}, not one of 'environments'"))
            if checkpoint is not None:
                problem = _checkpoint_problem(checkpoint, method, seed, working_dir)
                if problem is not None:
                    raise ValueError(
                        f"the study manifest {path} names {checkpoint!r} as the checkpoint of method "
                        f"{method!r}, seed {seed}, and {problem}.  A study loads and replaces only "
                        "each run's own checkpoint under working_dir/checkpoints.  Restore the "
                        "manifest from a backup, or delete it to train every run again"
                    )
