"""The sdist round trip: build an sdist, install it elsewhere, import the C core from there."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_sdist_builds_installs_and_imports(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (sdist,) = dist.glob("mushin-*.tar.gz")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(sdist)],
        check=True, capture_output=True, text=True,
    )
    assert list((target / "mushin").glob("_core*.so")), "the sdist did not build the C extension"
    assert (target / "mushin" / "py.typed").exists()
    assert (target / "mushin" / "_core.pyi").exists()
    # every subpackage ships, the demos included (`python -m mushin demo` after pip install)
    source_modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mushin").rglob("*.py")}
    installed = {p.relative_to(target).as_posix() for p in (target / "mushin").rglob("*.py")}
    assert source_modules <= installed, sorted(source_modules - installed)
    assert (target / "mushin" / "demos" / "segmentation.py").exists()
    probe = (
        "import mushin, numpy as np\n"
        "assert mushin.__file__.startswith(%r), mushin.__file__\n"
        "cm = mushin.ConfusionMatrix(3, ignore_index=255)\n"
        "cm.update(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 255]))\n"
        "print(cm.counts.tolist())\n"
        # `python -m mushin demo` finds its demos in the installed package, not a checkout
        "import mushin.__main__ as cli\n"
        "assert cli.segmentation.__file__.startswith(%r), cli.segmentation.__file__\n"
        % (str(target), str(target))
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.stdout.strip() == "[[1, 0, 0], [0, 0, 0], [0, 1, 1]]"
