import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_report_header(config):
    from mushin import _core

    names = ["baseline", "avx2", "avx512"]
    return f"mushin C core: instruction-set path {names[_core.isa_level()]} (MUSHIN_ISA={os.environ.get('MUSHIN_ISA', 'unset')})"
