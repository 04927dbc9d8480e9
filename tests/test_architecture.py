"""The import directions (docs/architecture.md), as data in tests/data/architecture.toml: every
import in gateway/ (top level, inside functions, under TYPE_CHECKING, and modules named in
import_module tables) goes down the table or is a listed exception with its reason; the table
itself points one way; production code never imports the test kit."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "gateway"
TABLE = Path(__file__).parent / "data" / "architecture.toml"
TESTKIT = "gateway.testkit"
ROOT = "gateway"
#: A string naming one of our modules, as import_module tables hold them ("pkg.mod:Class").
MODULE_STRING = re.compile(r"gateway(?:\.\w+)+(?::\w+)?")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module, or a name inside one)
    line: int
    lazy: bool  # inside a function or under TYPE_CHECKING


@dataclass(frozen=True)
class Unit:
    name: str
    may_import: frozenset[str]
    forbid: tuple[str, ...]
    lazy: frozenset[str]


@dataclass(frozen=True)
class Allowance:
    source: str
    target: str
    why: str
    lazy: bool


@dataclass(frozen=True)
class Table:
    units: Mapping[str, Unit]  # in the file's order: bottom up
    exceptions: tuple[Allowance, ...]

    def unit_of(self, module: str) -> str | None:
        """The longest unit whose name is ``module`` or a package prefix of it. The root unit
        holds ``gateway`` and the names in gateway/__init__.py, not the modules below it."""
        best = None
        for name in self.units:
            if within(module, name) and (best is None or len(name) > len(best)):
                best = name
        if best == ROOT and module != ROOT and (module.count(".") > 1 or is_module(module)):
            return None
        return best


def is_module(name: str) -> bool:
    """Whether ``name`` (``gateway.x``) is a module or package of gateway/."""
    tail = name.removeprefix(ROOT + ".")
    return (PACKAGE / f"{tail}.py").is_file() or (PACKAGE / tail).is_dir()


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def load_table(data: Mapping[str, Any]) -> Table:
    units = {
        name: Unit(
            name,
            frozenset(u["may_import"]),
            tuple(u.get("forbid", ())),
            frozenset(u.get("lazy", ())),
        )
        for name, u in data["units"].items()
    }
    exceptions = tuple(
        Allowance(e["from"], e["to"], e["why"].strip(), e.get("lazy", False))
        for e in data.get("exception", ())
    )
    return Table(units, exceptions)


# --- reading imports ----------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, package: bool = False) -> Iterator[Import]:
    """Every reference ``module`` makes to a ``gateway`` module. ``package``: the source is a
    package's ``__init__`` (relative imports resolve from the package itself)."""
    here = module.split(".") if package else module.split(".")[:-1]

    def visit(node: ast.AST, lazy: bool) -> Iterator[Import]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy = True
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, lazy)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, lazy)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # `from gateway import cli` imports the package cli
                yield Import(module, f"{base}.{alias.name}", node.lineno, lazy)
        for name in _module_strings(node):
            yield Import(module, name, getattr(node, "lineno", 0), lazy)
        for inner in ast.iter_child_nodes(node):
            yield from visit(inner, lazy)

    for found in visit(ast.parse(source), False):
        if within(found.target, "gateway"):
            yield found


def _module_strings(node: ast.AST) -> list[str]:
    """Our modules named in an import_module table (a dict, list, tuple or set of strings) or
    call; other strings that look like module names (log names, comparisons) import nothing."""
    if isinstance(node, ast.Dict):
        values: list[ast.expr | None] = [*node.keys, *node.values]
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        values = list(node.elts)
    elif isinstance(node, ast.Call) and _called(node.func) == "import_module":
        values = list(node.args[:1])
    else:
        return []
    return [
        v.value.split(":")[0]
        for v in values
        if isinstance(v, ast.Constant)
        and isinstance(v.value, str)
        and MODULE_STRING.fullmatch(v.value)
    ]


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found.extend(
            imports_of(
                module_name(path),
                path.read_text("utf-8"),
                package=path.name == "__init__.py",
            )
        )
    return found


# --- checking them ------------------------------------------------------------------------


def violations(table: Table, imports: list[Import]) -> list[str]:
    """What breaks the table, one line each (empty: all good)."""
    problems = []
    for imp in imports:
        source = table.unit_of(imp.module)
        target = table.unit_of(imp.target)
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        if source is None:
            problems.append(f"{where}: {imp.module} belongs to no unit of the table")
            continue
        if target is None or target == source:
            continue  # `gateway.X` where X is a name in gateway/__init__ falls under "gateway"
        unit = table.units[source]
        excepted = [
            e
            for e in table.exceptions
            if within(imp.module, e.source) and within(imp.target, e.target)
        ]
        if excepted:
            if any(e.lazy for e in excepted) and not imp.lazy:
                problems.append(f"{where}: the exception allows it only inside a function")
            continue
        if target not in unit.may_import:
            problems.append(f"{where}: {source} may not import {target}")
        elif forbidden := [f for f in unit.forbid if within(imp.target, f)]:
            problems.append(f"{where}: {source} may not import {forbidden[0]} (forbidden)")
        elif target in unit.lazy and not imp.lazy:
            problems.append(f"{where}: {source} imports {target} only inside a function")
    return problems


@pytest.fixture(scope="module")
def table() -> Table:
    return load_table(tomllib.loads(TABLE.read_text("utf-8")))


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


def test_every_import_goes_down_the_table(table: Table, imports: list[Import]) -> None:
    assert len(imports) > 500  # the reader sees the code (a silent parse would pass anything)
    assert violations(table, imports) == []


def test_the_table_points_one_way(table: Table) -> None:
    """Each unit imports only units listed before it: no cycle, no way up but an exception."""
    seen: set[str] = set()
    for name, unit in table.units.items():
        assert unit.may_import <= seen, f"{name} may import a unit above it"
        assert unit.lazy <= unit.may_import
        seen.add(name)


def test_every_exception_is_used_and_says_why(table: Table, imports: list[Import]) -> None:
    for e in table.exceptions:
        assert len(e.why) > 40, f"{e.source} -> {e.target}: say why"
        assert table.unit_of(e.source) in table.units
        assert any(within(i.module, e.source) and within(i.target, e.target) for i in imports), (
            f"stale exception {e.source} -> {e.target}: remove it"
        )


def test_every_module_belongs_to_a_unit(table: Table) -> None:
    """A new top-level package must take its place in the table (and in the flow)."""
    for path in PACKAGE.rglob("*.py"):
        assert table.unit_of(module_name(path)) is not None, path


def test_production_code_never_imports_the_test_kit(table: Table, imports: list[Import]) -> None:
    """Held apart from the table's data, so that widening the table cannot change it: only the
    kit itself and the CLI's commands that run it (lazily) reach gateway/testkit/."""
    assert {name for name, u in table.units.items() if TESTKIT in u.may_import} == {"gateway.cli"}
    importers = {
        i.module for i in imports if within(i.target, TESTKIT) and not within(i.module, TESTKIT)
    }
    assert importers == {"gateway.cli.demo", "gateway.cli.mock_recipient"}
    assert all(i.lazy for i in imports if within(i.target, TESTKIT) and i.module in importers)


def test_the_docs_list_the_table(table: Table) -> None:
    """docs/architecture.md lists each unit with what it may import, as the table says."""
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text("utf-8")
    block = text.split("Each line: a package and what it may import", 1)[1]
    block = block.split("```", 2)[1]
    listed: dict[str, set[str]] = {}
    for line in block.strip().splitlines():
        name, _, rest = line.partition(" ")
        rest = re.sub(r"\([^)]*\)", "", rest).strip()
        listed["gateway." + name] = {w.strip() for w in rest.split(",")}
    assert set(listed) == set(table.units) - {ROOT}
    for name, words in listed.items():
        if any("everything below" in w for w in words) or name == "gateway.documents":
            continue
        assert words == {u.removeprefix("gateway.") for u in table.units[name].may_import} - {
            ROOT
        }, name


# --- the checker catches what it should ---------------------------------------------------

BAD = [
    # (module, source, what the checker says)
    (
        "gateway.validation.extra",
        'from importlib import import_module\nimport_module("gateway.exchange.config")\n',
        "gateway.validation may not import gateway.exchange",
    ),
    (
        "gateway.documents.extra",
        "def f():\n    from gateway.exchange.router import Router\n",
        "gateway.documents may not import gateway.exchange",
    ),
    (
        "gateway.exchange.outbox_extra",
        "from ..testkit.loopback import loopback\n",
        "gateway.exchange may not import gateway.testkit",
    ),
    (
        "gateway.policy.extra",
        "from gateway.formats.registry import render\n",
        "may not import gateway.formats.registry (forbidden)",
    ),
    (
        "gateway.cli.extra",
        "from gateway.testkit.demo import run\n",
        "imports gateway.testkit only inside a function",
    ),
    (
        "gateway.formats.extra",
        "import gateway.validation.engine\n",
        "gateway.formats may not import gateway.validation",
    ),
    (
        "gateway.validation.extra",
        'KINDS = {"x": "gateway.policy.content_filter:ContentFilter"}\n',
        "gateway.validation may not import gateway.policy",
    ),
    (
        "gateway.console.extra",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from gateway.exchange.router import Router\n",
        "may not import gateway.exchange.router (forbidden)",
    ),
    (
        "gateway.validation.extra_rules",
        "from gateway.formats.xmlsafe import parse_xml\n",
        "gateway.validation may not import gateway.formats",
    ),
    (
        "gateway.exchange.router",
        "def route():\n    from gateway.formats.registry import render\n",
        "may not import gateway.formats.registry (forbidden)",
    ),
    (
        "gateway.exchange.router",
        "from gateway.validation.engine import findings\n",
        "gateway.exchange may not import gateway.validation",
    ),
    (
        "gateway.newthing.mod",
        "import gateway.documents\n",
        "belongs to no unit of the table",
    ),
]


@pytest.mark.parametrize(("module", "source", "said"), BAD, ids=[b[0] for b in BAD])
def test_a_forbidden_import_fails(table: Table, module: str, source: str, said: str) -> None:
    found = violations(table, list(imports_of(module, source)))
    assert len(found) == 1 and said in found[0], found


GOOD = [
    ("gateway.cli.extra", "def run():\n    from gateway.testkit.demo import run\n"),
    ("gateway.exchange.server.app", "def create_app():\n    from gateway.console import x\n"),
    ("gateway.policy.extra", "from gateway.formats.xmlsafe import parse_xml\n"),
    ("gateway.formats.fhir.extra", "from . import systems\nfrom ..base import Format\n"),
    ("gateway.documents.extra", "from gateway import MAPPINGS_DIR\n"),
    ("gateway.documents.extra", 'LOG = logging.getLogger("gateway.exchange.router")\n'),
    ("gateway.documents.extra", 'if name.startswith("gateway.cli"):\n    pass\n'),
]


@pytest.mark.parametrize(("module", "source"), GOOD, ids=[g[0] for g in GOOD])
def test_an_allowed_import_passes(table: Table, module: str, source: str) -> None:
    assert violations(table, list(imports_of(module, source))) == []


def test_the_exception_holds_only_inside_a_function(table: Table) -> None:
    found = violations(
        table, list(imports_of("gateway.exchange.server.app", "import gateway.console\n"))
    )
    assert found == [
        "gateway.exchange.server.app:1 imports gateway.console: "
        "the exception allows it only inside a function"
    ]


def test_relative_imports_resolve() -> None:
    got = [
        i.target
        for i in imports_of(
            "gateway.formats.fhir.codec", "from . import systems\nfrom ..x import y\n"
        )
    ]
    assert got == ["gateway.formats.fhir.systems", "gateway.formats.x.y"]
    got = [
        i.target for i in imports_of("gateway.formats", "from .base import Format\n", package=True)
    ]
    assert got == ["gateway.formats.base.Format"]
