"""Big batches (issue 12): results stream as each document finishes, worker processes give the
same answers in the same order, an unreadable file is one result, only documents are read."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import SAMPLES

from gateway.cli import batch
from gateway.cli.batch import Selection, Settings, iter_sources, validate_all
from gateway.cli.main import main
from gateway.cli.terminal import Progress, wants_color

FULL_FK = SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
BAD_PNR = SAMPLES / "fk7804-lisjp-v1-compact.RegisterCertificate.xml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """12 certificates in two folders, every third one invalid."""
    for i in range(12):
        sub = tmp_path / f"d{i // 6}"
        sub.mkdir(exist_ok=True)
        shutil.copy(BAD_PNR if i % 3 == 0 else FULL_FK, sub / f"c{i:02d}.xml")
    return tmp_path


def test_results_come_before_the_batch_is_read(folder: Path) -> None:
    pulled = 0

    def sources() -> Iterator[str]:
        nonlocal pulled
        for s in iter_sources([str(folder)]):
            pulled += 1
            yield s
        for _ in range(10_000):  # a batch far longer than what is read ahead
            pulled += 1
            yield str(FULL_FK)

    results = validate_all(sources(), Settings(), jobs=1)
    first = next(results)
    assert first.source.endswith("c00.xml")
    assert pulled <= batch.PARALLEL_FROM + 1


def test_text_is_written_per_document_not_at_the_end(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first document's line is on stdout while the second is still being validated."""
    seen: list[str] = []
    real = batch.check
    out = io.StringIO()

    def spy(source: str, data: bytes | None = None, settings: Settings | None = None) -> object:
        seen.append(out.getvalue())
        return real(source, data, settings)

    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(batch, "check", spy)
    assert main(["validate", str(folder), "--jobs", "1"]) == 1
    assert seen[0] == ""
    assert seen[1].startswith(f"{folder / 'd0' / 'c00.xml'}: INVALID")


def test_workers_give_the_same_results_in_the_same_order(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "CHUNK", 2)  # several chunks in flight
    rc1, one, _ = run(capsys, "validate", str(folder), "--jobs", "1", "--format", "json")
    rc2, two, _ = run(capsys, "validate", str(folder), "--jobs", "2", "--format", "json")
    assert rc1 == rc2 == 1
    assert json.loads(one) == json.loads(two)
    assert json.loads(two)["summary"] == {"documents": 12, "valid": 8, "invalid": 4}


def test_workers_run_in_other_processes(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CHUNK", 2)
    monkeypatch.setattr(batch, "_check_chunk", _pids)
    pids = list(validate_all(iter_sources([str(folder)]), Settings(), jobs=2))
    assert len(pids) == 12
    assert isinstance(pids[0], batch.Result)  # the first, here (its imports are then shared)
    assert all(isinstance(p, int) and p != os.getpid() for p in pids[1:])


def _pids(sources: list[str]) -> list[int]:
    return [os.getpid()] * len(sources)


def test_default_uses_workers_only_for_a_big_batch(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "_check_chunk", _pids)
    monkeypatch.setattr(batch, "default_jobs", lambda: 2)
    small = list(validate_all(iter_sources([str(folder)]), Settings(), jobs=None))
    assert [r.source.endswith(".xml") for r in small] == [True] * 12  # not a pid: in-process
    monkeypatch.setattr(batch, "PARALLEL_FROM", 4)
    big = list(validate_all(iter_sources([str(folder)]), Settings(), jobs=None))
    assert all(isinstance(r, int) for r in big[1:])


def test_an_unreadable_file_is_one_result_and_the_rest_go_on(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "d0" / "broken.xml").symlink_to(folder / "nowhere.xml")
    (folder / "d0" / "c03.xml").unlink()
    (folder / "d0" / "c03.xml").mkdir()  # a directory named like a document is walked
    rc, out, _ = run(
        capsys,
        "validate",
        str(folder),
        str(folder / "d0" / "c03.xml" / "x.xml"),
        "-q",
    )
    assert rc == 2
    assert f"{folder / 'd0' / 'broken.xml'}: error INPUT-UNREADABLE: cannot read: No such" in out
    assert out.count("INPUT-UNREADABLE") == 2
    assert out.endswith("13 documents: 8 valid, 5 invalid\n")


def test_permission_denied_is_one_result(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path) == str(BAD_PNR):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", deny)
    rc, out, _ = run(capsys, "validate", str(BAD_PNR), str(FULL_FK), "--format", "jsonl")
    assert rc == 2
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["issues"][0]["message"] == "cannot read: Permission denied"
    assert lines[1]["valid"] is True
    assert lines[2] == {"summary": {"documents": 2, "valid": 1, "invalid": 1}}


def test_a_directory_without_documents_is_said_and_the_rest_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(capsys, "validate", str(tmp_path), str(FULL_FK))
    assert rc == 2
    assert "no documents in this directory" in err
    assert out.endswith("1 document: 1 valid, 0 invalid\n")


def test_upper_case_suffixes_and_globs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(FULL_FK, tmp_path / "A.XML")
    shutil.copy(FULL_FK, tmp_path / "b.Xml")
    (tmp_path / "old").mkdir()
    shutil.copy(BAD_PNR, tmp_path / "old" / "c.xml")
    (tmp_path / "notes.txt").write_text("not a document")
    (tmp_path / "A.expected.json").write_text("{}")  # a fixture's sidecar, not a document
    assert list(iter_sources([str(tmp_path)])) == [
        str(tmp_path / "A.XML"),
        str(tmp_path / "b.Xml"),
        str(tmp_path / "old" / "c.xml"),
    ]
    excluded = iter_sources([str(tmp_path)], Selection(exclude=("OLD/*",)))
    assert [Path(s).name for s in excluded] == ["A.XML", "b.Xml"]
    included = iter_sources([str(tmp_path)], Selection(include=("a.*",)))
    assert [Path(s).name for s in included] == ["A.XML"]
    rc, out, _ = run(capsys, "validate", str(tmp_path), "--exclude", "old/*", "-q")
    assert (rc, out) == (0, "2 documents: 2 valid, 0 invalid\n")


def test_quiet_prints_failures_and_the_summary(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run(capsys, "validate", str(folder), "-q")
    assert rc == 1
    verdicts = [line for line in out.splitlines() if not line.startswith("  ")]
    assert len(verdicts) == 5 and all("INVALID" in v for v in verdicts[:4])
    assert verdicts[4] == "12 documents: 8 valid, 4 invalid"


def test_verbose_adds_the_rule_title(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "validate", str(BAD_PNR), "--verbose")
    assert rc == 1
    assert "ID-PERSON-CHECKSUM: Personnummer check digit wrong (gateway explain" in out
    assert "worker processes" in err


def test_one_document_is_singular(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "validate", str(FULL_FK))
    assert out.endswith("\n1 document: 1 valid, 0 invalid\n")


def test_json_is_one_object_streamed_and_jsonl_one_line_each(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "validate", str(folder), "--format", "json")
    doc = json.loads(out)
    assert len(doc["results"]) == 12 and out.count("\n") == 15  # a result per line
    _, out, _ = run(capsys, "validate", str(folder), "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["source"] for r in lines[:12]] == [r["source"] for r in doc["results"]]
    assert lines[12] == {"summary": doc["summary"]}
    _, out, _ = run(capsys, "validate", str(tmp := folder / "d0" / "c01.xml"), "--format", "json")
    assert json.loads(out)["results"][0]["source"] == str(tmp)


def test_junit_is_whole_at_the_end(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "validate", str(folder), "--format", "junit")
    suite = ElementTree.fromstring(out.encode())
    assert (suite.get("tests"), suite.get("failures")) == ("12", "4")
    assert len(suite.findall(".//testcase")) == 12


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wants_color(Tty()) and not wants_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(Tty())


def test_colour_marks_the_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys, "stdout", out)
    main(["validate", str(BAD_PNR)])
    assert "\x1b[31mINVALID\x1b[0m" in out.getvalue()
    assert "\x1b[31merror\x1b[0m" in out.getvalue()


def test_progress_bar_only_on_a_terminal(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "validate", str(folder))
    assert err == ""  # stderr is not a terminal here
    stream = io.StringIO()
    bar = Progress(stream, total=4)
    bar.update(True)
    assert "[" in stream.getvalue() and " 1/4 documents, 0 invalid" in stream.getvalue()
    bar.clear()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_is_drawn_when_stderr_is_a_terminal(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["validate", str(folder), "-q"]) == 1
    assert "/12 documents" in err.getvalue()
    assert "documents" not in capsys.readouterr().err


def _peak_bytes(directory: Path, out: Path) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        main(["validate", str(directory), "--jobs", "1", "--output", str(out)])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_batch(tmp_path: Path) -> None:
    """Python memory at the peak for 40 and for 160 documents: a result that kept its
    document (model, source map, the lxml tree behind it) would add tens of KB each."""
    small, big = tmp_path / "small", tmp_path / "big"
    for folder, n in ((small, 40), (big, 160)):
        folder.mkdir()
        for i in range(n):
            shutil.copy(BAD_PNR if i % 2 else FULL_FK, folder / f"c{i:03d}.xml")
    _peak_bytes(small, tmp_path / "warm.txt")  # imports, schemas, caches
    grown = _peak_bytes(big, tmp_path / "big.txt") - _peak_bytes(small, tmp_path / "small.txt")
    assert grown < 120 * 1024, grown  # under 1 KB per extra document


def test_a_directory_or_an_oversized_file_read_as_a_document_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = batch.check(str(tmp_path))
    assert (r.unreadable, r.issues[0].code) == (True, "INPUT-UNREADABLE")
    assert r.issues[0].message == "cannot read: Is a directory"
    monkeypatch.setattr(batch, "MAX_READ", 100)
    r = batch.check(str(FULL_FK))
    assert r.unreadable and r.issues[0].message.startswith("larger than")


@pytest.mark.parametrize("size", [0, 99, 100, 101, 5000])
def test_a_file_or_a_pipe_is_read_whole_up_to_the_bound(
    size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sized from fstat for a file, in steps for a pipe: the same bytes, the same bound."""
    monkeypatch.setattr(batch, "MAX_READ", 100)
    data = bytes(range(256)) * 20
    data = data[:size]
    path = tmp_path / "doc.xml"
    path.write_bytes(data)
    expected = data if size <= 100 else None
    with open(path, "rb", buffering=0) as f:
        assert batch.read_bounded(f) == expected
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as w:
        w.write(data)  # under the pipe's buffer: no writer thread needed
    with os.fdopen(read_end, "rb") as r:
        assert batch.read_bounded(r) == expected
    with io.BytesIO(data) as b:  # no file descriptor at all
        assert batch.read_bounded(b) == expected


def test_a_result_crosses_from_a_worker_unchanged() -> None:
    """Results travel from the workers as plain values and come back equal, issues with and
    without a line alike."""
    import pickle

    found = batch.check(str(BAD_PNR))
    unreadable = batch.check(str(BAD_PNR.parent / "no-such-file.xml"))
    assert found.issues and found.issues[0].location.line is not None
    assert unreadable.issues[0].location.line is None
    for r in (found, unreadable):
        back = pickle.loads(pickle.dumps(r))
        assert back == r and type(back.issues[0].severity) is type(r.issues[0].severity)
