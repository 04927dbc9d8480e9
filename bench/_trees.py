"""Source trees to measure side by side in one run: this tree, the tree of a git ref (``git
archive``), and a copy compiled with mypyc (setup.py's compiled build, built in place there, so
no extension module is ever left in the working tree). Each is imported through
``PYTHONPATH`` with this virtualenv; ``../shared`` is linked beside every copy."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tree:
    name: str
    path: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.path)}

    def compiled(self) -> bool:
        return any((self.path / "gateway" / "formats" / "rivta").glob("answer_reader.*.so"))


def tree_at(ref: str, into: Path) -> Path:
    """The tree of a git ref, unpacked under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    (into / "tree.tar").write_bytes(archive)
    return _unpacked(into)


def working_copy(into: Path) -> Path:
    """The working tree as it is (uncommitted changes too), without .git and the venv."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.split(b"\0")  # fmt: skip
    with tarfile.open(into / "tree.tar", "w") as tar:
        for name in filter(None, files):
            path = ROOT / name.decode()
            if path.is_file():
                tar.add(path, arcname=name.decode())
    return _unpacked(into)


def _unpacked(into: Path) -> Path:
    """``into/tree.tar`` unpacked as ``into/tree``, beside a link to ``../shared``."""
    with tarfile.open(into / "tree.tar") as tar:
        tar.extractall(into / "tree", filter="data")
    link = into / "shared"
    if not link.exists():
        link.symlink_to(ROOT.parent / "shared")
    return into / "tree"


def compile_in_place(tree: Path) -> None:
    """setup.py's compiled build of ``tree``, in place (mypyc and a C compiler needed)."""
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tree, env={**os.environ, "GATEWAY_COMPILE": "1"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not Tree("", tree).compiled():
        raise SystemExit(f"the compiled build failed:\n{(done.stderr or done.stdout)[-3000:]}")


def bytecode(tree: Path) -> None:
    """Compile every module to bytecode as an installation does, so that no run pays for it
    (this environment may set PYTHONDONTWRITEBYTECODE, which would compile at every start)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree / "gateway")],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
