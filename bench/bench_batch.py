"""`gateway validate DIR` on a big batch of real certificates, whole process, next to the floor:
a single-process loop of read + bare lxml parse + Inera's XSD over the same files. In one run:

* the batch's wall and CPU time with ``--jobs 1`` and ``--jobs 2``, per tree;
* start-up to the first document (process start until its result is written), per tree;
* CPU µs per document stage by stage (read, detect, parse, XSD, reader, model, rules,
  locating the findings, the rest), per tree, beside the floor's stages;
* peak memory of this tree for a bigger batch.

The trees: this one as it is (pure Python), the same compiled with mypyc (setup.py's compiled
build, in a temporary copy), and any ``--lever NAME=REF`` (a git ref's tree, pure) to show
what each step bought, e.g. ``--lever main=main``. Batches and trees take turns, so a busy
moment of this shared machine falls on all of them; compare within a run.

The batch is generated into a temporary directory from Inera's RegisterCertificate samples
and the RIVTA certificate fixtures (each copy made distinct by a trailing comment; two thirds
of them invalid, by Inera's made-up personnummer or the fixtures' broken rules), or from
Inera's seven samples alone (``--inera-only``). Every tree
is compiled to bytecode first, as an installation is.

    .venv/bin/python bench/bench_batch.py [--files 3000] [--repeats 5] [--lever main=main]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trees import ROOT, Tree, bytecode, compile_in_place, tree_at, working_copy

INTEROP = ROOT.parent / "shared" / "interop"
INERA_XSD = (
    INTEROP
    / "rivta/interactions/RegisterCertificateInteraction"
    / "RegisterCertificateResponder_3.1.xsd"
)
STAGES = Path(__file__).resolve().parent / "_stages.py"
#: Where the commands run: an empty folder, so no gateway.toml is read.
WORKDIR = Path(tempfile.gettempdir())
TARGET_WALL, TARGET_START = 2.0, 0.35


def sources(inera_only: bool = False) -> list[bytes]:
    files = sorted((INTEROP / "sklintyg").glob("*.RegisterCertificate.xml"))
    if not inera_only:
        files += sorted((ROOT / "fixtures" / "certificate").glob("*.xml"))
    return [f.read_bytes() for f in files if not f.name.endswith(".fhir.xml")]


def generate(directory: Path, n: int, inera_only: bool = False) -> None:
    samples = sources(inera_only)
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


def gateway(tree: Tree) -> list[str]:
    return [sys.executable, "-m", "gateway", "validate"]


def run(tree: Tree, args: list[str]) -> tuple[float, float]:
    """(wall, CPU of the whole process tree) seconds of `gateway validate ARGS`."""
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run(
        [*gateway(tree), *args], env=tree.env(), cwd=WORKDIR,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return time.perf_counter() - t0, _children_cpu() - c0


def first_result(tree: Tree, directory: Path) -> float:
    """Seconds from starting `gateway validate DIR` until its first result is written."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*gateway(tree), str(directory), "--jobs", "1", "--format", "jsonl"],
        env=tree.env(), cwd=WORKDIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.kill()
    proc.wait()
    if not line.startswith(b'{"source"'):
        raise SystemExit(f"{tree.name}: no result from gateway validate: {line[:200]!r}")
    return elapsed


def bare_start() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def stages(tree: Tree, directory: Path, files: int) -> dict[str, dict[str, float]]:
    done = subprocess.run(
        [sys.executable, str(STAGES), str(directory), "--files", str(files)],
        env=tree.env(), cwd=WORKDIR, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{tree.name}: the stage run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    if not str(result.pop("gateway")).startswith(str(tree.path)):
        raise SystemExit(f"{tree.name}: imported another tree's gateway")
    return result  # type: ignore[no-any-return]


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


def peak_memory(tree: Tree, args: list[str]) -> tuple[float, float]:
    """(largest peak of one process, largest sum over the process tree), in MB, sampled
    every 10 ms."""
    proc = subprocess.Popen(
        [*gateway(tree), *args], env=tree.env(), cwd=WORKDIR,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    tree_mb = single = 0
    while proc.poll() is None:
        total, peak = _tree_rss(proc.pid)
        tree_mb, single = max(tree_mb, total), max(single, peak)
        time.sleep(0.01)
    return single / 1024, tree_mb / 1024


def _trees(args: argparse.Namespace, tmp: Path) -> list[Tree]:
    trees = []
    for i, lever in enumerate(args.lever):
        name, _, ref = lever.partition("=")
        (tmp / f"lever{i}").mkdir()
        trees.append(Tree(name, tree_at(ref or name, tmp / f"lever{i}")))
    trees.append(Tree("this tree", ROOT))
    if not args.no_compiled:
        (tmp / "compiled").mkdir()
        copy = working_copy(tmp / "compiled")
        compile_in_place(copy)
        trees.append(Tree("this tree, compiled", copy))
    for tree in trees:
        bytecode(tree.path)
    return trees


def _print_batch(
    files: int,
    repeats: int,
    fl: list[tuple[float, float]],
    runs: dict[str, list[tuple[float, float]]],
) -> float:
    f, fc = median(w for w, _ in fl), median(c for _, c in fl)
    head = f"{files} certificates, median of {repeats}"
    print(f"\n{head:46} {'wall s':>7} {'x floor':>8} {'CPU s':>7} {'x floor':>8}")
    print(f"{'floor: read + lxml parse + Inera XSD':46} {f:7.2f} {1:7.2f}x {fc:7.2f} {1:7.2f}x")
    for label, r in runs.items():
        w, c = median(x for x, _ in r), median(x for _, x in r)
        print(f"{label:46} {w:7.2f} {w / f:7.2f}x {c:7.2f} {c / fc:7.2f}x")
    print(f"target: --jobs 2 <= {TARGET_WALL:g}x the floor's wall time (2 cores)")
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--stage-files", type=int, default=104, help="files per stage pass (104)")
    ap.add_argument("--memory-files", type=int, default=10000, help="0: no memory run")
    ap.add_argument("--lever", action="append", default=[], metavar="NAME=REF",
                    help="also a git ref's tree (pure), e.g. --lever main=main")  # fmt: skip
    ap.add_argument("--no-compiled", action="store_true", help="no mypyc-compiled copy")
    ap.add_argument("--stage-runs", type=int, default=3, help="stage runs per tree (3)")
    ap.add_argument("--stages-only", action="store_true", help="no batch, start-up or memory")
    ap.add_argument(
        "--inera-only", action="store_true", help="copies of Inera's seven samples only"
    )
    args = ap.parse_args()
    print(f"cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp_name:
        tmp = Path(tmp_name)
        global WORKDIR
        WORKDIR = tmp / "cwd"
        WORKDIR.mkdir()
        trees = _trees(args, tmp)
        batch = tmp / "batch"
        batch.mkdir()
        generate(batch, args.files, args.inera_only)
        fl: list[tuple[float, float]] = []
        runs: dict[str, list[tuple[float, float]]] = {}
        starts: dict[str, list[float]] = {t.name: [] for t in trees}
        starts["python -c pass"] = []
        staged: dict[str, list[dict[str, dict[str, float]]]] = {t.name: [] for t in trees}
        for r in range(max(args.repeats, args.stage_runs)):  # interleaved: a busy moment
            order = trees if r % 2 == 0 else trees[::-1]  # hits them all
            if r < args.stage_runs:
                for tree in order:
                    staged[tree.name].append(stages(tree, batch, args.stage_files))
            if args.stages_only or r >= args.repeats:
                continue
            fl.append(floor(batch))
            for tree in order:
                for jobs in ("1", "2"):
                    label = f"{tree.name}, --jobs {jobs}"
                    runs.setdefault(label, []).append(run(tree, [str(batch), "--jobs", jobs]))
                starts[tree.name].append(first_result(tree, batch))
            starts["python -c pass"].append(bare_start())
        if not args.stages_only:
            runs = {label: runs[label] for label in sorted(runs, key=_order(trees))}
            f = _print_batch(args.files, args.repeats, fl, runs)
            print(f"\nstart-up to the first document, median of {args.repeats}   wall s  x floor")
            for name, times in starts.items():
                s = median(times)
                print(f"{name:46} {s:7.3f} {s / f:7.2f}x")
            print(f"target: <= {TARGET_START:g} s")
        _print_stages(trees, staged, args.stage_runs)

        if args.memory_files and not args.stages_only:
            big = tmp / "big"
            big.mkdir()
            generate(big, args.memory_files)
            this = next(t for t in trees if t.name == "this tree")
            print(f"\npeak memory, {args.memory_files} files           largest process MB  tree MB")
            for label, extra in (("default options", []), ("--jobs 1", ["--jobs", "1"])):
                one, tree_mb = peak_memory(this, [str(big), *extra])
                print(f"gateway validate DIR {label:24} {one:10.0f} {tree_mb:8.0f}")
            print("target: <= 150 MB")


def _order(trees: list[Tree]) -> object:
    names = [t.name for t in trees]
    return lambda label: (names.index(label.rpartition(", --jobs")[0]), label)


def _print_stages(
    trees: list[Tree], staged: dict[str, list[dict[str, dict[str, float]]]], count: int
) -> None:
    """Per stage the best of the runs (CPU µs per document); the floor's from every run."""
    best = {
        name: {s: min(r["ours"][s] for r in runs) for s in runs[0]["ours"]}
        for name, runs in staged.items()
    }
    floor_runs = [r["floor"] for runs in staged.values() for r in runs]
    floor_best = {s: min(r[s] for r in floor_runs) for s in floor_runs[0]}
    names = [t.name for t in trees]
    width = max(12, *(len(n) + 1 for n in names))
    print(f"\nCPU µs per document, stage by stage (each on its own inputs; best of {count} runs)")
    print(f"{'stage':10} {'floor':>8}" + "".join(f"{n:>{width}}" for n in names))
    for stage in best[names[0]]:
        fl = f"{floor_best[stage]:8.1f}" if stage in floor_best else f"{'':8}"
        print(f"{stage:10} {fl}" + "".join(f"{best[n][stage]:{width}.1f}" for n in names))
    floor_total = sum(floor_best.values())
    print(
        f"{'total':10} {floor_total:8.1f}"
        + "".join(f"{sum(best[n].values()):{width}.1f}" for n in names)
    )
    print(
        f"{'x floor':10} {1:7.2f}x"
        + "".join(f"{sum(best[n].values()) / floor_total:{width - 1}.2f}x" for n in names)
    )
    print(
        "rest: the whole beyond its stages timed alone (the stages evicting each other from "
        "the CPU's caches, freeing the tree and the model, the glue between the stages)"
    )


if __name__ == "__main__":
    main()
