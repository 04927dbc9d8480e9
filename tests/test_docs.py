"""Generated documentation cannot drift from the code it is generated from."""

from __future__ import annotations

import pytest

from gateway import PROJECT_ROOT
from gateway.cli.explain import catalogue_markdown, load_catalogue
from gateway.cli.main import main
from gateway.documents.issues import RULES
from gateway.formats.fhir.mapping import render_mapping_table

DOCS = PROJECT_ROOT / "docs"
KINDS = [
    "certificate",
    "sip",
    "return-to-work-plan",
    "section4-notification",
    "section4-acknowledgement",
]


def test_rule_catalogue_is_current() -> None:
    assert (DOCS / "rules.md").read_text("utf-8") == catalogue_markdown(), (
        "regenerate with: gateway explain --markdown > docs/rules.md"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_mapping_tables_are_current(kind: str) -> None:
    assert (DOCS / "mappings" / f"{kind}.md").read_text("utf-8") == render_mapping_table(kind), (
        f"regenerate with: gateway mapping {kind} > docs/mappings/{kind}.md"
    )


def test_every_rule_has_a_title_and_an_explanation() -> None:
    load_catalogue()
    for rule in RULES.all():
        assert rule.title and len(rule.explanation) > 30, rule.code


def test_mapping_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mapping", "sip"]) == 0
    assert capsys.readouterr().out == render_mapping_table("sip")


@pytest.mark.parametrize(
    "kind", ["sip", "return-to-work-plan", "section4-notification", "section4-acknowledgement"]
)
def test_schema_references_are_current(kind: str) -> None:
    from gateway.formats.schema_docs import schema_reference

    assert (DOCS / "schemas" / f"{kind}.md").read_text("utf-8") == schema_reference(kind), (
        f"regenerate with: gateway schema {kind} > docs/schemas/{kind}.md"
    )
