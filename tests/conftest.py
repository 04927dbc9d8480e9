from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gateway import PROJECT_ROOT

#: Inera's reference material beside the project (never copied into it).
INTEROP = PROJECT_ROOT.parent / "shared" / "interop"
SAMPLES = INTEROP / "sklintyg"
RIVTA = INTEROP / "rivta"

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def interop() -> Path:
    assert INTEROP.is_dir(), f"{INTEROP} is missing: ../shared must sit beside the project"
    return INTEROP
