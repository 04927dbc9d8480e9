"""`gateway validate DIR` on a big batch of real certificates, whole process, default options,
next to the floor: a single-process loop of bare lxml parse + Inera's XSD over the same files.

The batch is generated into a temporary directory from Inera's RegisterCertificate samples
and the RIVTA certificate fixtures (each copy made distinct by a trailing comment). Also: peak
memory for a 10,000-file batch (the whole process tree, sampled from /proc), and one file
with process start.

    .venv/bin/python bench/bench_batch.py [--files 3000] [--memory-files 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT.parent / "shared" / "interop"
INERA_XSD = (
    INTEROP
    / "rivta/interactions/RegisterCertificateInteraction"
    / "RegisterCertificateResponder_3.1.xsd"
)
GATEWAY = [sys.executable, "-m", "gateway", "validate"]


def sources() -> list[bytes]:
    files = sorted((INTEROP / "sklintyg").glob("*.RegisterCertificate.xml"))
    files += sorted((ROOT / "fixtures" / "certificate").glob("*.xml"))
    return [f.read_bytes() for f in files if not f.name.endswith(".fhir.xml")]


def generate(directory: Path, n: int) -> None:
    samples = sources()
    for i in range(n):
        sub = directory / f"{i // 1000:03d}"  # integrators' batches come in folders
        sub.mkdir(exist_ok=True)
        data = samples[i % len(samples)] + f"\n<!-- copy {i} -->\n".encode()
        (sub / f"cert-{i:05d}.xml").write_bytes(data)


def floor(directory: Path) -> tuple[float, float]:
    """(wall, CPU) seconds for read + parse + validate of every file, one process, the schema
    compiled beforehand."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(INERA_XSD), parser))
    paths = sorted(directory.rglob("*.xml"))
    t0, c0 = time.perf_counter(), time.process_time()
    for p in paths:
        schema.validate(etree.fromstring(p.read_bytes(), parser))
    return time.perf_counter() - t0, time.process_time() - c0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers included: they are reaped
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU of the whole process tree) seconds of a command."""
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0, _children_cpu() - c0


def wall(cmd: list[str]) -> float:
    return run(cmd)[0]


def _tree_rss(pid: int) -> tuple[int, int]:
    """(resident KiB summed over a process and its children, shared pages counted in each;
    the largest peak resident KiB of one of them)."""
    total = peak = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                fields = dict(line.split(":", 1) for line in f)
            total += int(fields["VmRSS"].split()[0])
            peak = max(peak, int(fields["VmHWM"].split()[0]))
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, KeyError):
            continue
    return total, peak


def peak_memory(cmd: list[str]) -> tuple[float, float]:
    """(largest peak of one process, largest sum over the process tree), in MB, sampled
    every 10 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree = single = 0
    while proc.poll() is None:
        total, peak = _tree_rss(proc.pid)
        tree, single = max(tree, total), max(single, peak)
        time.sleep(0.01)
    return single / 1024, tree / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--memory-files", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "batch"
        batch.mkdir()
        generate(batch, args.files)
        floors, ours, single = [], [], []
        for _ in range(args.repeats):  # interleaved, so a busy moment hits both
            floors.append(floor(batch))
            ours.append(run([*GATEWAY, str(batch)]))
            single.append(run([*GATEWAY, str(batch), "--jobs", "1"]))
        (f, fc), (o, oc), (s, sc) = (
            (median(w for w, _ in runs), median(c for _, c in runs))
            for runs in (floors, ours, single)
        )
        head = f"{args.files} certificates, median of {args.repeats}"
        print(f"\n{head:43} {'wall s':>6} {'x floor':>8} {'CPU s':>6} {'x floor':>8}")
        for label, w, c in (
            ("floor: lxml parse + Inera XSD, one process", f, fc),
            ("gateway validate DIR (default options)", o, oc),
            ("gateway validate DIR --jobs 1", s, sc),
        ):
            print(f"{label:43} {w:6.2f} {w / f:7.2f}x {c:6.2f} {c / fc:7.2f}x")
        print("target: gateway validate DIR <= 2x the floor's wall time")

        big = Path(tmp) / "big"
        big.mkdir()
        generate(big, args.memory_files)
        print(f"\npeak memory, {args.memory_files} files         largest process MB  tree MB")
        for label, extra in (("default options", []), ("--jobs 1", ["--jobs", "1"])):
            one, tree = peak_memory([*GATEWAY, str(big), *extra])
            print(f"gateway validate DIR {label:22} {one:10.0f} {tree:8.0f}")
        one, tree = peak_memory([*GATEWAY, str(batch), "--jobs", "1"])
        print(f"the same, {args.files} files, --jobs 1        {one:10.0f} {tree:8.0f}")
        print("target: <= 150 MB")

        full = INTEROP / "sklintyg" / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
        times = [wall([*GATEWAY, str(full)]) for _ in range(7)]
        print(f"\ngateway validate FILE, process start included: {median(times) * 1000:.0f} ms")
        print("target: <= 1000 ms")


if __name__ == "__main__":
    main()
