"""Start-up (issue 21): `gateway validate` imports what validating needs and nothing of the
exchange, the policy step or their libraries, in a fresh interpreter as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

from gateway import FIXTURES_DIR

#: What `gateway validate` must never load: the exchange server and the policy step, and the
#: libraries only they use (HTTP, the free-text scanner, §4 contact checks).
NEVER = ("gateway.exchange", "gateway.policy", "aiohttp", "ahocorasick")
#: Loaded only to check a §4 notification's coordinator contact (its business rules).
CONTACT_CHECKS = ("phonenumbers", "email_validator")

PROBE = """
import json, sys
from gateway.cli.main import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
"""


def imported(*argv: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """(exit code, modules loaded) of ``gateway ARGV`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=cwd, check=True
    )
    last = json.loads(done.stdout.splitlines()[-1])
    return last["rc"], set(last["modules"])


def _loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        m for m in modules if m in packages or m.startswith(tuple(f"{p}." for p in packages))
    )


@pytest.mark.parametrize(
    "document",
    [
        SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml",  # RIVTA
        FIXTURES_DIR / "certificate" / "ag114-fhir-valid.fhir.json",
        FIXTURES_DIR / "sip" / "fhirxml-valid-four-principals.fhir.xml",
        FIXTURES_DIR / "sip" / "invalid-no-consent.xml",  # own XML, with a finding
        FIXTURES_DIR / "return-to-work-plan" / "fhir-valid-national.fhir.json",
    ],
    ids=lambda p: p.name,
)
def test_validate_loads_neither_the_exchange_nor_the_policy_stack(document: Path) -> None:
    rc, modules = imported("validate", "-q", str(document))
    assert rc in (0, 1)
    assert "gateway.validation.service" in modules  # the probe saw a real validation
    assert _loaded(modules, NEVER + CONTACT_CHECKS) == []


def test_a_batch_with_workers_loads_neither(tmp_path: Path) -> None:
    rc, modules = imported("validate", "-q", "--jobs", "2", str(SAMPLES))
    assert rc == 1  # Inera's made-up personnummer
    assert _loaded(modules, NEVER + CONTACT_CHECKS) == []


def test_a_section4_notification_loads_only_its_contact_checks() -> None:
    folder = FIXTURES_DIR / "section4-notification"
    rc, modules = imported("validate", "-q", str(next(folder.glob("valid*.xml"))))
    assert rc == 0
    assert _loaded(modules, NEVER) == []
    assert set(CONTACT_CHECKS) <= modules


def test_the_config_file_may_hold_the_servers_tables(tmp_path: Path) -> None:
    """One gateway.toml for the CLI and the server: validate accepts the server's tables
    without loading the exchange to check them (its reader does, when it runs)."""
    (tmp_path / "gateway.toml").write_text(
        '[rules]\nwarn = ["ID-PERSON-CHECKSUM"]\n\n[server]\nport = 8080\n'
    )
    full = SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
    rc, modules = imported("validate", "-q", str(full), cwd=tmp_path)
    assert rc == 0  # the [rules] table was read: the made-up personnummer only warns
    assert _loaded(modules, NEVER) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["audit", "--help"], "usage: gateway audit "),  # registered by the serve module
        (["mock-recipient", "--help"], "usage: gateway mock-recipient "),
        (["--config", "x.toml", "explain", "--help"], "usage: gateway explain "),
        (["--help", "validate"], "\n    mock-recipient"),  # the overview lists every command
    ],
)
def test_a_command_named_on_the_line_is_found_wherever_it_is_registered(
    argv: list[str], expected: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *argv], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert expected in done.stdout
