"""The hypothesis profiles of conftest.py do what they say: ``fast`` caps every property,
also one that sets its own number of examples; ``full`` (CI's) leaves them as they are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
from hypothesis import given, settings, strategies as st

CALLS = []


@settings(max_examples=200)
@given(st.integers())
def test_own_number(x):
    CALLS.append(x)


@given(st.integers())
def test_the_profile_number(x):
    CALLS.append(x)


def test_zz_count():
    print(f"CALLS={len(CALLS)}")
"""


def _calls(profile: str, tmp_path: Path) -> int:
    (tmp_path / "test_probe.py").write_text(PROBE)
    tests = Path(__file__).parent
    proc = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-s",
                "-p",
                "conftest",
                "-p",
                "no:cacheprovider",
            ),
            *("--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")),
        ],
        env={**os.environ, "HYPOTHESIS_PROFILE": profile, "PYTHONPATH": str(tests)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return int(proc.stdout.split("CALLS=")[1].split()[0])


@pytest.mark.parametrize(("profile", "low", "high"), [("fast", 2, 20), ("full", 260, 400)])
def test_a_profile_sets_how_many_examples_every_property_gets(
    profile: str, low: int, high: int, tmp_path: Path
) -> None:
    assert low <= _calls(profile, tmp_path) <= high
