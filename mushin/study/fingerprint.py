"""Fingerprints of training functions: a changed ``train_fn`` is detected, not reused.

Examples
--------
>>> from mushin.study import train_fn_fingerprint
>>> def train(seed):
...     return f"model-{seed}.pt"
>>> len(train_fn_fingerprint(train))
64
"""
from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import linecache
import re
import textwrap
from typing import Any, Callable, Optional


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable_repr(value: Any) -> str:
    """``repr`` without memory addresses, which change from one process to the next."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not stop the study
        text = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", text)


def _code_constants(code: Any) -> str:
    parts = []
    for const in code.co_consts:
        parts.append(_code_constants(const) if inspect.iscode(const) else _stable_repr(const))
    return f"({','.join(parts)};{','.join(code.co_names)})"


def _function_source(fn: Any) -> Optional[str]:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None


def _lambda_source(fn: Any) -> Optional[str]:
    """The text of the lambda alone.

    ``inspect.getsource`` returns the whole statement around a lambda, so an
    edit to, say, the seed list next to it would look like a code change.
    The lambda's own text comes from the parsed file; when several lambdas
    start on its line, ``None`` (the caller falls back to bytecode).
    """
    try:
        filename = inspect.getsourcefile(fn)
        lines = linecache.getlines(filename) if filename else []
        text = "".join(lines)
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    first_line = fn.__code__.co_firstlineno
    hits = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda) and node.lineno == first_line]
    if len(hits) != 1:
        return None
    return ast.get_source_segment(text, hits[0])


def _callable_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_callable_name(fn.func)})"
    target = getattr(fn, "__func__", fn)
    module = getattr(target, "__module__", None) or type(fn).__module__
    qualname = getattr(target, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"


def _feed_fingerprint(digest: Any, fn: Any) -> None:
    def feed(text: str) -> None:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")

    if isinstance(fn, functools.partial):
        feed("partial")
        _feed_fingerprint(digest, fn.func)
        feed(_stable_repr(fn.args))
        feed(_stable_repr(sorted(fn.keywords.items())))
        return
    if inspect.ismethod(fn):
        feed(type(fn.__self__).__qualname__)
        fn = fn.__func__
    if inspect.isfunction(fn):
        feed(fn.__module__ or "")
        feed(fn.__qualname__)
        source = _lambda_source(fn) if fn.__name__ == "<lambda>" else _function_source(fn)
        feed(source if source is not None else fn.__code__.co_code.hex())
        feed(_code_constants(fn.__code__))
        feed(_stable_repr(fn.__defaults__))
        feed(_stable_repr(fn.__kwdefaults__))
        for cell in fn.__closure__ or ():
            try:
                feed(_stable_repr(cell.cell_contents))
            except ValueError:  # empty cell
                feed("<empty>")
        return
    cls = type(fn)
    feed(_callable_name(fn))
    feed(f"{cls.__module__}.{cls.__qualname__}")
    try:
        feed(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        call = getattr(cls, "__call__", None)
        code = getattr(call, "__code__", None)
        feed(code.co_code.hex() if code is not None else "")
    feed(_stable_repr(getattr(fn, "__dict__", None)))


def train_fn_fingerprint(fn: Callable[..., Any]) -> str:
    """A hash of what a training function's own code says it does.

    It covers the function's qualified name and source (bytecode when the
    source is not available), its constants, default arguments, closure
    values and, for ``functools.partial``, the bound arguments.  It does not
    see functions the training function calls, global variables it reads or
    files it loads: after changing those, retrain with ``Study(..., rerun=...)``.

    Examples
    --------
    >>> from mushin.study import train_fn_fingerprint
    >>> train_fn_fingerprint(lambda seed: seed) == train_fn_fingerprint(lambda seed: seed + 1)
    False
    """
    digest = hashlib.sha256()
    _feed_fingerprint(digest, fn)
    return digest.hexdigest()
