"""The train_fn fingerprint follows compiled code: comments and formatting never mark runs stale.

Each test writes a small "project" (a training module and a helper module) to
a temporary folder, imports it, fingerprints its training function, edits
the files and imports them again.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import _study_helpers as h
from mushin.study import StaleCheckpointError, train_fn_fingerprint
from mushin.study import fingerprint as fp

TRAIN = '''
import helpers

SCALE = 3


def train(seed):
    """Train one model."""
    total = 0
    for i in range(seed + 2):
        if i % 2:
            total += helpers.step(i) * 10
    try:
        total += int("7")
    except ValueError:
        total = -1
    return total
'''

HELPERS = '''
def step(i):
    return i + 1
'''


class Project:
    """A throwaway project folder whose modules are imported afresh on every load()."""

    def __init__(self, root: Path, monkeypatch):
        self.root = root
        self.version = 0
        self.monkeypatch = monkeypatch

    def load(self, train: str = TRAIN, helpers: str = HELPERS, name: str = "train"):
        self.version += 1
        folder = self.root / f"v{self.version}"
        folder.mkdir(parents=True)
        (folder / f"{name}.py").write_text(textwrap.dedent(train))
        (folder / "helpers.py").write_text(textwrap.dedent(helpers))
        for module in (name, "helpers"):
            sys.modules.pop(module, None)
        self.monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        self.monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(folder)])
        return module

    def fingerprint(self, train: str = TRAIN, helpers: str = HELPERS) -> str:
        return train_fn_fingerprint(self.load(train, helpers).train)


@pytest.fixture
def project(tmp_path, monkeypatch):
    yield Project(tmp_path, monkeypatch)
    for module in ("train", "helpers"):
        sys.modules.pop(module, None)


# ----------------------------------------------------- what does not count --

COSMETIC = {
    "a comment": TRAIN.replace("    total = 0\n", "    total = 0  # running sum\n    # loop over steps\n"),
    "another docstring": TRAIN.replace('"""Train one model."""', '"""Train one model.\n\n    Longer text.\n    """'),
    "no docstring": TRAIN.replace('    """Train one model."""\n', ""),
    "blank lines above (other line numbers)": "\n\n\n\n" + TRAIN,
    "formatting": TRAIN.replace("total += helpers.step(i) * 10", "total += (\n                helpers.step(i)\n"
                                "                * 10\n            )"),
    "a pass-only line": TRAIN.replace("    total = 0\n", "    total = 0\n    pass\n"),
    "an edit elsewhere in the module": TRAIN + "\n\ndef unrelated():\n    return 42\n",
    "a changed module global the function does not use": TRAIN.replace("SCALE = 3", "SCALE = 4"),
}


@pytest.mark.parametrize("edit", sorted(COSMETIC))
def test_cosmetic_edits_do_not_change_the_fingerprint(project, edit):
    assert COSMETIC[edit] != TRAIN  # the edit applies
    assert project.fingerprint(COSMETIC[edit]) == project.fingerprint()


def test_comment_and_docstring_in_a_called_helper_do_not_count(project):
    edited = HELPERS.replace("def step(i):\n", 'def step(i):\n    """One step."""\n    # add one\n')
    assert edited != HELPERS
    assert project.fingerprint(helpers=edited) == project.fingerprint()


# --------------------------------------------------------- what does count --

REAL = {
    "a constant": TRAIN.replace("* 10", "* 11"),
    "a string constant": TRAIN.replace('int("7")', 'int("8")'),
    "an operator": TRAIN.replace("i % 2", "i % 3"),
    "a comparison": TRAIN.replace("if i % 2:", "if i % 2 == 0:"),
    "control flow": TRAIN.replace("        if i % 2:\n            total", "        if i % 2:\n            pass\n"
                                  "        if True:\n            total"),
    "what the try block covers": TRAIN.replace(
        '    try:\n        total += int("7")\n', '    total += int("7")\n    try:\n        pass\n'),
    "the exception caught": TRAIN.replace("except ValueError", "except TypeError"),
    "a parameter name": TRAIN.replace("def train(seed):", "def train(s):").replace("seed + 2", "s + 2"),
    "a called helper's name": TRAIN.replace("helpers.step(i)", "helpers.stop(i)"),
    "a default argument": TRAIN.replace("def train(seed):", "def train(seed, lr=0.1):"),
}


@pytest.mark.parametrize("edit", sorted(REAL))
def test_real_edits_change_the_fingerprint(project, edit):
    assert REAL[edit] != TRAIN  # the edit applies
    helpers = HELPERS + "\n\ndef stop(i):\n    return i + 1\n"
    assert project.fingerprint(REAL[edit], helpers) != project.fingerprint(helpers=helpers)


def test_a_changed_helper_in_the_project_changes_the_fingerprint(project):
    assert project.fingerprint(helpers=HELPERS.replace("i + 1", "i + 2")) != project.fingerprint()


def test_helpers_imported_by_name_and_in_registries_are_followed(project):
    train = '''
    from helpers import step
    import helpers as hp

    REGISTRY = {"a": hp.Model}


    def train(seed):
        return step(seed) + REGISTRY["a"]().width
    '''
    helpers = '''
    def step(i):
        return i + 1


    class Model:
        def __init__(self, width=8):
            self.width = width
    '''
    base = project.fingerprint(train, helpers)
    assert project.fingerprint(train, helpers) == base
    assert project.fingerprint(train, helpers.replace("i + 1", "i - 1")) != base
    assert project.fingerprint(train, helpers.replace("width=8", "width=16")) != base


def test_recursion_between_project_functions_terminates(project):
    train = '''
    def train(seed):
        return even(seed)


    def even(n):
        return True if n == 0 else odd(n - 1)


    def odd(n):
        return False if n == 0 else even(n - 1)
    '''
    base = project.fingerprint(train)
    assert project.fingerprint(train.replace("return False", "return None")) != base


def test_library_code_is_not_followed(project, monkeypatch):
    # the same helper edit counts when helpers.py is the user's, not when it is a library's
    edited = HELPERS.replace("i + 1", "i + 2")
    assert project.fingerprint(helpers=edited) != project.fingerprint()
    monkeypatch.setattr(fp, "_library_roots", lambda: (str(project.root.resolve()),))
    assert project.fingerprint(helpers=edited) == project.fingerprint()


def test_stdlib_and_installed_packages_are_library_code():
    import json as stdlib_json

    import numpy
    import torch

    assert not fp._is_project(stdlib_json.dumps)
    assert not fp._is_project(numpy.mean)
    assert not fp._is_project(torch.nn.Conv2d)
    assert not fp._is_project(train_fn_fingerprint)  # mushin's own
    assert fp._is_project(h.train_fcn)


# ---------------------------------------------------- closures, partials --


def test_closures_defaults_and_partials_count():
    def factory(lr, layers=(8, 8)):
        def train_fn(seed, *, epochs=3):
            return (seed, lr, layers, epochs)

        return train_fn

    assert train_fn_fingerprint(factory(0.1)) == train_fn_fingerprint(factory(0.1))
    assert train_fn_fingerprint(factory(0.1)) != train_fn_fingerprint(factory(0.2))
    assert train_fn_fingerprint(factory(0.1, (8, 8))) != train_fn_fingerprint(factory(0.1, (8, 16)))
    changed_default = factory(0.1)
    changed_default.__kwdefaults__ = {"epochs": 4}
    assert train_fn_fingerprint(changed_default) != train_fn_fingerprint(factory(0.1))
    a = functools.partial(h.train_fcn, out_dir="x")
    assert train_fn_fingerprint(a) == train_fn_fingerprint(functools.partial(h.train_fcn, out_dir="x"))
    assert train_fn_fingerprint(a) != train_fn_fingerprint(functools.partial(h.train_fcn, out_dir="y"))
    assert train_fn_fingerprint(a) != train_fn_fingerprint(functools.partial(h.train_deeplab, out_dir="x"))


def test_a_closure_over_a_function_follows_its_code(project):
    train = '''
    import helpers


    def make(step):
        def train(seed):
            return step(seed)
        return train


    train = make(helpers.step)
    '''
    assert project.fingerprint(train, HELPERS.replace("i + 1", "i * 2")) != project.fingerprint(train)


def test_callable_objects_count_their_class_and_state(project):
    train = '''
    class Trainer:
        def __init__(self, lr):
            self.lr = lr

        def __call__(self, seed):
            return seed * self.lr


    train = Trainer(0.1)
    '''
    base = project.fingerprint(train)
    assert project.fingerprint(train.replace("Trainer(0.1)", "Trainer(0.2)")) != base
    assert project.fingerprint(train.replace("seed * self.lr", "seed + self.lr")) != base
    assert project.fingerprint(train.replace("        def __call__", "        # the step\n        def __call__")) == base


def test_two_lambdas_on_one_line_differ():
    a, b = (lambda s: s + 1), (lambda s: s + 2)
    assert train_fn_fingerprint(a) != train_fn_fingerprint(b)


# --------------------------------------------------- stable across processes --

STABILITY = '''
import functools, json, sys
sys.path.insert(0, sys.argv[1])
from mushin.study import train_fn_fingerprint
import _study_helpers as h

TAGS = {"alpha", "beta", "gamma", "delta"}


def with_sets(seed, tags=frozenset({"x", "y", "z", "w"})):
    if seed in {"a", "b", "c", "d", "e"}:   # a frozenset constant
        return sorted(tags | TAGS)
    return [lambda q: q + seed for _ in range(2)]


def factory(names):
    def train(seed):
        return (seed, names)
    return train


class Trainer:
    def __init__(self):
        self.opts = {"k": {1, 2, 3, "s"}}

    def __call__(self, seed):
        return h.train_fcn(seed, out_dir="x")


print(json.dumps([
    train_fn_fingerprint(with_sets),
    train_fn_fingerprint(factory({"p", "q", "r", "s", "t"})),
    train_fn_fingerprint(Trainer()),
    train_fn_fingerprint(functools.partial(h.train_fcn, out_dir="z")),
    train_fn_fingerprint(lambda seed: {"u", "v"} - {seed}),
]))
'''


def test_fingerprints_are_the_same_in_every_process(tmp_path):
    script = tmp_path / "stability.py"
    script.write_text(STABILITY)
    tests_dir = str(Path(__file__).resolve().parent)
    repo = str(Path(__file__).resolve().parent.parent)
    outputs = []
    for hash_seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=os.pathsep.join([repo, tests_dir]))
        done = subprocess.run([sys.executable, str(script), tests_dir], env=env, capture_output=True, text=True,
                              timeout=120, cwd=repo)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(set(outputs[0])) == 5


# ---------------------------------------------------------------- in a Study --


def test_study_rerun_after_adding_a_comment_trains_nothing(project, tmp_path):
    from _study_helpers import make_study

    train = '''
    import functools
    import _study_helpers as h

    OUT = {out!r}


    def train(seed):
        return h.train_fcn(seed, out_dir=OUT, log={log!r})
    '''
    log = tmp_path / "calls.log"
    source = textwrap.dedent(train).format(out=str(tmp_path / "out"), log=str(log))
    module = project.load(source)
    make_study({"fcn": module.train}, tmp_path / "study", seeds=[0, 1]).train()
    commented = source.replace("def train(seed):\n", "def train(seed):\n    # the baseline, as published\n")
    make_study({"fcn": project.load(commented).train}, tmp_path / "study", seeds=[0, 1]).train()
    assert h.calls(log) == {"fcn:0": 1, "fcn:1": 1}
    changed = source.replace("h.train_fcn(seed,", "h.train_deeplab(seed,")
    with pytest.raises(StaleCheckpointError, match=r"'fcn' \(seeds \[0, 1\]\)"):
        make_study({"fcn": project.load(changed).train}, tmp_path / "study", seeds=[0, 1]).train()


def test_stale_error_explains_an_older_fingerprint_or_python(tmp_path):
    from _study_helpers import make_study

    methods = {"fcn": functools.partial(h.train_fcn, out_dir=str(tmp_path / "out"))}
    make_study(methods, tmp_path / "study", seeds=[0]).train()
    path = tmp_path / "study" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["runs"]["fcn"]["0"]["code_hash"] = "0" * 64
    manifest["methods"]["fcn"]["python"] = "2.7"
    path.write_text(json.dumps(manifest))
    with pytest.raises(StaleCheckpointError, match=r"fingerprinted under Python 2.7 and this is Python 3\.\d+"):
        make_study(methods, tmp_path / "study", seeds=[0]).train()
    del manifest["methods"]["fcn"]["fingerprint"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(StaleCheckpointError, match=r"fingerprinted by an older mushin, which hashed the source"):
        make_study(methods, tmp_path / "study", seeds=[0]).train()


def test_a_deep_chain_of_project_calls_does_not_hit_the_recursion_limit(project):
    depth = sys.getrecursionlimit() + 200
    chain = "\n\n".join(f"def f{i}(x):\n    return f{i + 1}(x) + {i % 7}" for i in range(depth))
    train = f"{chain}\n\n\ndef f{depth}(x):\n    return x\n\n\ndef train(seed):\n    return f0(seed)\n"
    base = project.fingerprint(train)
    assert project.fingerprint(train.replace(f"def f{depth}(x):\n    return x", f"def f{depth}(x):\n    return -x")) != base
