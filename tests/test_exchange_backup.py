"""The deployment page, exercised (docs/deployment.md): ``gateway backup`` while a load runs,
the restore steps, ``gateway audit --verify`` intact and every message accepted before the
backup began still there; and the systemd unit checked by ``systemd-analyze verify``."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
from exchange_support import FK7804_XML, certificate_message, run
from test_exchange_crash import TOKEN, Recipient, ready, start_gateway, wait_for, write_config

from gateway import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "docs" / "deploy"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}


def gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, cwd=cwd,
        timeout=300,
    )  # fmt: skip


def test_backup_while_serving_restore_and_the_audit_trail_verifies(tmp_path: Path) -> None:
    copy = tmp_path / "backups" / "gateway.db"
    copy.parent.mkdir()

    async def main() -> tuple[list[str], list[str]]:
        recipient = Recipient()
        recipient.gate.set()
        cfg = write_config(tmp_path, await recipient.start(), lease=10.0)
        database = tmp_path / "data" / "gateway.db"
        proc, base = await start_gateway(cfg)
        accepted: list[str] = []
        before_backup: list[str] = []
        stop = asyncio.Event()
        try:
            async with aiohttp.ClientSession() as s:
                await wait_for(lambda: ready(s, base))

                async def load() -> None:
                    n = 0
                    while not stop.is_set():
                        mid = f"load-{n}"
                        body = certificate_message(FK7804_XML, ("employer",), message_id=mid)
                        async with s.post(f"{base}/messages", data=body, headers=AUTH) as r:
                            assert r.status == 202, await r.text()
                        accepted.append(mid)
                        n += 1

                posting = asyncio.ensure_future(load())
                while len(accepted) < 20:
                    await asyncio.sleep(0.05)
                before_backup = list(accepted)
                done = await asyncio.to_thread(
                    gateway, "backup", str(copy), "--config", str(cfg), cwd=tmp_path
                )
                assert done.returncode == 0, done.stderr
                assert done.stdout.startswith(f"backup of {database} written to {copy}: ")
                assert "integrity ok" in done.stdout
                stop.set()
                await posting
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        assert len(accepted) > len(before_backup)  # the load went on during the backup
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        # restore, as docs/deployment.md says: the gateway stopped, the copy in place of the
        # database, its -wal and -shm removed, started again
        for leftover in (
            database.with_name("gateway.db-wal"),
            database.with_name("gateway.db-shm"),
        ):
            leftover.unlink(missing_ok=True)
        shutil.copy2(copy, database)
        os.chmod(database, 0o600)
        verified = gateway("audit", "--verify", "--config", str(cfg), cwd=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("audit trail intact: ")
        proc, base = await start_gateway(cfg)
        missing = []
        try:
            async with aiohttp.ClientSession() as s:
                for mid in before_backup:
                    async with s.get(f"{base}/messages/{mid}", headers=AUTH) as r:
                        if r.status != 200:
                            missing.append(mid)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
            await recipient.stop()
        return before_backup, missing

    before, missing = run(main())
    assert len(before) >= 20
    assert missing == []  # every message accepted before the backup began is in it


def test_backup_refuses_postgresql_and_an_unwritable_destination(tmp_path: Path) -> None:
    pg = gateway("backup", "x.db", "--database", "postgresql://gw@db/x", cwd=tmp_path)
    assert pg.returncode == 2
    assert "back up PostgreSQL with pg_dump" in pg.stderr
    (tmp_path / "gw.db").write_bytes(b"")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    bad = gateway("backup", f"{blocked}/copy.db", "--database", f"sqlite:///{tmp_path}/gw.db",
                  cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2
    assert f"{blocked}/copy.db: cannot write: Not a directory" in bad.stderr


def test_the_deployment_pages_systemd_unit_verifies() -> None:
    """``systemd-analyze verify`` where systemd is installed: CI installs it (.ci/run), so
    there a missing tool fails this test rather than skipping it."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        assert not os.environ.get("CI"), "CI must install systemd (.ci/run) for this test"
        raise AssertionError("systemd-analyze is not installed: apt-get install systemd")
    unit = DEPLOY / "gateway.service"
    text = unit.read_text("utf-8")
    # the unit names /opt/gateway/venv/bin/gateway; verify checks that the binary exists, so
    # point it at this environment's gateway in a copy
    here = Path(sys.executable).with_name("gateway")
    assert "/opt/gateway/venv/bin/gateway" in text
    with_binary = text.replace("/opt/gateway/venv/bin/gateway", str(here))
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"gateway-unit-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    try:
        copy = folder / "gateway.service"
        copy.write_text(with_binary, "utf-8")
        result = subprocess.run(
            [tool, "verify", str(copy)], capture_output=True, text=True, timeout=120
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "gateway.service" in line  # other units on the host are not ours to judge
    ]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
