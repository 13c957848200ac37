import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from isa_levels import ISA_LEVELS, ISA_NAMES, isa_capped

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=ISA_LEVELS, ids=[ISA_NAMES[level] for level in ISA_LEVELS])
def isa(request):
    """A test that takes it runs once at each instruction-set level this CPU has."""
    with isa_capped(request.param):
        yield request.param


def pytest_report_header(config):
    from mushin import _core

    return f"mushin C core: instruction-set path {ISA_NAMES[_core.isa_level()]} (MUSHIN_ISA={os.environ.get('MUSHIN_ISA', 'unset')})"
