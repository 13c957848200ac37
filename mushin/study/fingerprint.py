"""Fingerprints of training functions: a changed ``train_fn`` is detected, not reused.

The fingerprint hashes what the interpreter runs, not the text of the file:
each function's instructions with their arguments resolved (constants by
value, names by name, jump targets by instruction index), its exception
table, default arguments and closure values, and then, recursively, every
function and class of the user's own project that it reaches through its
global names.  Comments, docstrings, blank lines, formatting and the
function's position in the file are not part of it, so they never mark runs
stale; any change to what runs does.

"Project" means code outside the Python standard library, outside
``site-packages`` and outside mushin itself: edits to an installed library
do not mark runs stale (an upgrade is not a code change of yours), edits to
a helper module next to your script do.

The hash is stable across processes and machines running the same Python
minor version (no ids, addresses or set orders enter it).  Another Python
version compiles other bytecode, so its fingerprints differ; the manifest
records the version, and the error then says so.

Examples
--------
>>> from mushin.study import train_fn_fingerprint
>>> def train(seed):
...     return f"model-{seed}.pt"
>>> len(train_fn_fingerprint(train))
64
"""
from __future__ import annotations

import collections
import dis
import functools
import hashlib
import inspect
import os
import re
import site
import sys
import sysconfig
import types
from typing import Any, Callable, Dict, List, Set, Tuple

#: Bump when what the fingerprint covers changes, so old manifests are told apart.
FINGERPRINT_VERSION = 2

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs) | frozenset(getattr(dis, "hasjump", ()))
_CONSTS = frozenset(dis.hasconst)
# instructions whose argument is an index into a table of names: hash the name
_NAMED = frozenset(dis.hasname) | frozenset(dis.haslocal) | frozenset(dis.hasfree)
# instructions that carry no behaviour (line-number placeholders, argument prefixes)
_SKIPPED = frozenset({"NOP", "EXTENDED_ARG", "CACHE"})
_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTRIBUTE_LOADS = frozenset({"LOAD_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR"})
_MUSHIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_version() -> str:
    """``"3.11"``: fingerprints compare only within one Python minor version."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@functools.lru_cache(maxsize=1)
def _library_roots() -> Tuple[str, ...]:
    roots: Set[str] = {_MUSHIN_DIR}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(paths[key])
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - old virtualenv's site module
        pass
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if isinstance(user_site, str):
        roots.add(user_site)
    return tuple(sorted(os.path.realpath(root) for root in roots))


def _is_project_file(filename: str) -> bool:
    """True for code of the user's own project: not stdlib, site-packages or mushin."""
    if filename.startswith("<"):
        # "<stdin>", "<string>", notebook cells are the user's; "<frozen ...>" is the stdlib's
        return not filename.startswith("<frozen")
    real = os.path.realpath(filename)
    for root in _library_roots():
        if real == root or real.startswith(root + os.sep):
            return False
    return True


def _is_project(obj: Any) -> bool:
    if inspect.isfunction(obj):
        return _is_project_file(obj.__code__.co_filename)
    if inspect.isclass(obj):
        module = sys.modules.get(obj.__module__)
        filename = getattr(module, "__file__", None)
        if module is None or filename is None:
            return obj.__module__ == "__main__"
        return _is_project_file(filename)
    if inspect.ismodule(obj):
        filename = getattr(obj, "__file__", None)
        return filename is not None and _is_project_file(filename)
    return False


def _callable_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_callable_name(fn.func)})"
    target = getattr(fn, "__func__", fn)
    module = getattr(target, "__module__", None) or type(fn).__module__
    qualname = getattr(target, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"


class _Fingerprint:
    """One traversal: feeds a SHA-256 with a canonical form of everything reached."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.seen: Dict[int, int] = {}  # id(object) -> visit number, for cycles (never hashed)
        self.keep: List[Any] = []  # keeps visited objects alive, so no id is reused mid-walk
        # project functions and classes reached by global name, walked in order (a queue, not
        # recursion: a deep call graph must not hit the interpreter's recursion limit)
        self.pending: collections.deque = collections.deque()

    def feed(self, *parts: Any) -> None:
        for part in parts:
            self.digest.update(str(part).encode("utf-8", "surrogatepass"))
            self.digest.update(b"\0")

    def _visit(self, obj: Any) -> bool:
        """False (after feeding a back-reference) when ``obj`` was already visited."""
        key = id(obj)
        if key in self.seen:
            self.feed("seen", self.seen[key])
            return False
        self.seen[key] = len(self.seen)
        self.keep.append(obj)
        return True

    # ------------------------------------------------------------ values --
    def value(self, value: Any, depth: int = 0) -> None:
        """A value bound to the function: a default, a closure cell, a partial's argument."""
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            self.feed(type(value).__name__, repr(value))
        elif depth > 20:
            self.feed("deep")
        elif isinstance(value, types.CodeType):
            self.code(value)
        elif inspect.isfunction(value) or isinstance(value, functools.partial) or inspect.ismethod(value):
            self.callable(value)
        elif inspect.isclass(value):
            self.cls(value) if _is_project(value) else self.feed("class", value.__module__, value.__qualname__)
        elif isinstance(value, (tuple, list)):
            self.feed(type(value).__name__, len(value))
            for item in value:
                self.value(item, depth + 1)
        elif isinstance(value, (set, frozenset)):
            # a set's order changes from one process to the next: sort the items' own fingerprints
            items = sorted(_sub_fingerprint(item, depth + 1) for item in value)
            self.feed(type(value).__name__, *items)
        elif isinstance(value, dict):
            self.feed("dict", len(value))
            for key, item in value.items():
                self.value(key, depth + 1)
                self.value(item, depth + 1)
        else:
            self.feed("object", _stable_repr(value))

    # -------------------------------------------------------------- code --
    def code(self, code: types.CodeType) -> None:
        """Instructions with resolved arguments; never line numbers, offsets or the docstring."""
        self.feed("code", code.co_name, code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                  code.co_flags, *code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
        instructions = list(dis.get_instructions(code))
        kept = [i for i in instructions if i.opname not in _SKIPPED]
        index: Dict[int, int] = {}  # offset -> index among kept instructions (a skipped one: the next kept)
        position = len(kept)
        for instruction in reversed(instructions):
            if instruction.opname not in _SKIPPED:
                position -= 1
            index[instruction.offset] = position
        index.setdefault(len(code.co_code), len(kept))
        for n, instruction in enumerate(kept):
            nxt = kept[n + 1] if n + 1 < len(kept) else None
            if (instruction.opname == "LOAD_CONST" and isinstance(instruction.argval, str) and nxt is not None
                    and nxt.opname in ("STORE_NAME", "STORE_FAST") and nxt.argval == "__doc__"):
                self.feed("docstring")  # a class body's docstring: its text is documentation
                continue
            op = instruction.opcode
            if op in _CONSTS:
                self.feed(instruction.opname)
                self.value(instruction.argval)
            elif op in _JUMPS:
                self.feed(instruction.opname, "->", index.get(instruction.argval, instruction.argval))
            elif op in _NAMED:
                self.feed(instruction.opname, instruction.argrepr)
            else:
                self.feed(instruction.opname, instruction.arg, instruction.argrepr)
        for entry in getattr(dis.Bytecode(code), "exception_entries", ()):
            self.feed("except", index.get(entry.start), index.get(entry.end, len(kept)),
                      index.get(entry.target), entry.depth, entry.lasti)

    # --------------------------------------------------------- callables --
    def callable(self, fn: Any) -> None:
        if isinstance(fn, functools.partial):
            self.feed("partial")
            self.callable(fn.func)
            self.value(fn.args)
            self.value(dict(sorted(fn.keywords.items())))
            return
        if inspect.ismethod(fn):
            self.feed("method")
            self.instance(fn.__self__)
            self.callable(fn.__func__)
            return
        if inspect.isfunction(fn):
            self.function(fn)
            return
        if inspect.isclass(fn):
            self.value(fn)
            return
        self.instance(fn)

    def instance(self, obj: Any) -> None:
        cls = obj if inspect.isclass(obj) else type(obj)
        self.feed("instance", cls.__module__, cls.__qualname__)
        if inspect.isclass(obj):
            return
        if _is_project(cls):
            self.cls(cls)
        else:
            call = getattr(cls, "__call__", None)
            if inspect.isfunction(call):
                self.function(call)
        self.value(getattr(obj, "__dict__", None))

    def function(self, fn: types.FunctionType) -> None:
        if not self._visit(fn):
            return
        self.feed("function", fn.__module__ or "", fn.__qualname__)
        self.code(fn.__code__)
        self.value(fn.__defaults__)
        self.value(dict(sorted((fn.__kwdefaults__ or {}).items())))
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell
                self.feed("empty cell")
                continue
            self.value(contents)
        self.globals_of(fn)

    def cls(self, cls: type) -> None:
        if not self._visit(cls):
            return
        self.feed("class", cls.__module__, cls.__qualname__)
        for base in cls.__bases__:
            if _is_project(base):
                self.cls(base)
            else:
                self.feed("base", base.__module__, base.__qualname__)
        for name, attr in sorted(vars(cls).items()):
            if name in ("__doc__", "__dict__", "__weakref__", "__module__", "__qualname__"):
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            if isinstance(attr, property):
                for accessor in (attr.fget, attr.fset, attr.fdel):
                    if inspect.isfunction(accessor):
                        self.feed("property", name)
                        self.function(accessor)
            elif inspect.isfunction(attr):
                self.feed("attribute", name)
                self.function(attr)
            elif isinstance(attr, (type(None), bool, int, float, complex, str, bytes, tuple)):
                self.feed("attribute", name)
                self.value(attr)

    def globals_of(self, fn: types.FunctionType) -> None:
        """Follow the project functions and classes that ``fn``'s global names lead to."""
        globals_, attributes = _names_used(fn.__code__)
        namespace = fn.__globals__
        for name in sorted(globals_):
            if name not in namespace:
                continue  # a builtin, or not defined yet
            target = namespace[name]
            self._follow(name, target, attributes)

    def _follow(self, name: str, target: Any, attributes: Set[str]) -> None:
        if inspect.ismodule(target):
            if not _is_project(target):
                return
            for attribute in sorted(attributes):
                self._follow_code(f"{name}.{attribute}", getattr(target, attribute, None))
        elif inspect.isfunction(target) or inspect.isclass(target):
            self._follow_code(name, target)
        elif isinstance(target, functools.partial):
            self.feed("global", name)
            self.callable(target)
        elif isinstance(target, (dict, list, tuple)):
            # e.g. a registry {"fcn": TinyFCN, ...}: the project code it holds, not its other values
            items = target.values() if isinstance(target, dict) else target
            for n, item in enumerate(items):
                self._follow_code(f"{name}[{n}]", item)

    def _follow_code(self, name: str, target: Any) -> None:
        """Queue ``target`` when it is a function or class of the project."""
        if not _is_project(target):
            return
        self.feed("global", name)
        self.pending.append(target)

    def drain(self) -> None:
        """Walk everything queued by :meth:`globals_of`, and what that queues in turn."""
        while self.pending:
            target = self.pending.popleft()
            if inspect.isfunction(target):
                self.function(target)
            else:
                self.cls(target)


def _names_used(code: types.CodeType) -> Tuple[Set[str], Set[str]]:
    """(global names, attribute names) loaded by ``code`` and the code nested in it."""
    globals_: Set[str] = set()
    attributes: Set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        for instruction in dis.get_instructions(current):
            if instruction.opname in _GLOBAL_LOADS:
                globals_.add(instruction.argval)
            elif instruction.opname in _ATTRIBUTE_LOADS:
                attributes.add(instruction.argval)
        stack.extend(const for const in current.co_consts if isinstance(const, types.CodeType))
    return globals_, attributes


def _stable_repr(value: Any) -> str:
    """``repr`` without memory addresses, which change from one process to the next."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not stop the study
        text = f"<{type(value).__qualname__}>"
    return _ADDRESS.sub("", text)


def _sub_fingerprint(value: Any, depth: int) -> str:
    walk = _Fingerprint()
    walk.value(value, depth)
    walk.drain()
    return walk.digest.hexdigest()


def train_fn_fingerprint(fn: Callable[..., Any]) -> str:
    """A hash of the code a training function runs.

    It covers the function's compiled instructions (constants, names,
    control flow), its default arguments and closure values, for
    ``functools.partial`` the bound arguments, for a callable object its
    class and attributes, and, recursively, the functions and classes of
    your own project that it reaches by global name.  It does not cover
    comments, docstrings or formatting, installed libraries, the values of
    global variables, or files the function reads: after changing those,
    retrain with ``Study(..., rerun=...)``.

    Examples
    --------
    >>> from mushin.study import train_fn_fingerprint
    >>> train_fn_fingerprint(lambda seed: seed) == train_fn_fingerprint(lambda seed: seed + 1)
    False
    >>> def train(seed):
    ...     return seed * 2  # doubled
    >>> first = train_fn_fingerprint(train)
    >>> def train(seed):
    ...     'Double the seed.'
    ...
    ...     return seed * 2
    >>> train_fn_fingerprint(train) == first
    True
    """
    walk = _Fingerprint()
    walk.feed("mushin train_fn fingerprint", FINGERPRINT_VERSION)
    walk.callable(fn)
    walk.drain()
    return walk.digest.hexdigest()
