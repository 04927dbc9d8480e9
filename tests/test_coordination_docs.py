"""docs/coordination.md cannot drift from the data it documents: every deadline row, flag code
and statistics measure is named there, and the plan index's FHIR rows are current."""

from __future__ import annotations

from gateway import PROJECT_ROOT
from gateway.cli.explain import load_catalogue
from gateway.coordination.settings import deadline_rules, role_views
from gateway.coordination.statistics import MEASURES
from gateway.documents.issues import RULES, RuleKind
from gateway.formats.fhir.mapping import render_mapping_table

DOCS = PROJECT_ROOT / "docs"
PAGE = (DOCS / "coordination.md").read_text("utf-8")


def test_every_deadline_flag_and_measure_is_documented() -> None:
    load_catalogue()
    missing = [r.code for r in deadline_rules() if f"`{r.code}`" not in PAGE]
    missing += [
        r.code for r in RULES.all() if r.kind is RuleKind.COORDINATION and f"`{r.code}`" not in PAGE
    ]
    missing += [m for m in MEASURES if f"`{m}`" not in PAGE and m not in PAGE]
    assert missing == []


#: how the page names each role in its table
NAMES = {
    "employer": "employer",
    "region": "region",
    "municipality": "municipality",
    "forsakringskassan": "Försäkringskassan",
    "arbetsformedlingen": "Arbetsförmedlingen",
    "occupational-health": "occupational health",
}


def test_every_role_is_in_the_visibility_table() -> None:
    assert set(NAMES) == {str(r) for r in role_views()}
    for name in NAMES.values():
        assert f"\n| {name} | " in PAGE, name


def test_the_plan_index_mapping_table_is_current() -> None:
    """Regenerate with render_mapping_table("plan-index") > docs/mappings/plan-index.md."""
    current = render_mapping_table("plan-index")
    assert (DOCS / "mappings" / "plan-index.md").read_text("utf-8") == current
