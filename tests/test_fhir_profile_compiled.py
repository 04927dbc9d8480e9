"""Our FHIR profiles' compiled checks (profile.py: Python source made at start-up) report
exactly what the interpreted reference (``check_interpreted``) reports, in the same order:
on every resource of every document of the golden corpus as written and under every single
mutation of its tree, and on trees made to break each kind of constraint."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from test_fhir_golden import corpus, json_mutations

from gateway.formats.fhir.codec import FhirJsonCodec
from gateway.formats.fhir.profile import Constraint, Profile, check_interpreted, profiles
from gateway.formats.fhir.tree import Reader

JSON = FhirJsonCodec()
KINDS = (
    "certificate",
    "sip",
    "return-to-work-plan",
    "section4-notification",
    "section4-acknowledgement",
    "messaging",
)


def _both(resource: Any, profile: Profile, path: str = "Bundle.entry[0].resource") -> list[Any]:
    compiled, reference = Reader(), Reader()
    profile.run(resource, path, compiled)
    check_interpreted(resource, profile, path, reference)
    assert compiled.issues == reference.issues
    return compiled.issues


def test_every_kind_has_profiles_with_constraints() -> None:
    for kind in KINDS:
        assert sum(len(p.constraints) for p in profiles(kind).values()) >= 3, kind


def test_compiled_checks_are_the_reference_on_the_corpus_and_its_mutations() -> None:
    documents = list(corpus())
    assert len(documents) > 40
    found = 0
    for name, doc in documents:
        tree = orjson.loads(JSON.render(doc))
        mutations = (make() for i, (_, make) in enumerate(json_mutations(tree)) if i % 10 == 0)
        for variant in [tree, *mutations]:
            entries = variant.get("entry")
            bundle_and_entries = [variant] + [
                e["resource"]
                for e in (entries if isinstance(entries, list) else [])
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            ]
            for resource in bundle_and_entries:
                rtype = resource.get("resourceType")
                for kind in KINDS:
                    profile = profiles(kind).get(str(rtype))
                    if profile is not None:
                        found += len(_both(resource, profile))
        assert found, name  # the mutations broke some profile somewhere


@pytest.mark.parametrize(
    ("constraint", "resource", "codes"),
    [
        (Constraint(("status",), 1, "*"), {}, ["FHIR-REQUIRED"]),
        (Constraint(("status",), 1, "*"), {"status": ""}, ["FHIR-REQUIRED"]),
        (Constraint(("status",), 1, "*"), {"status": []}, ["FHIR-REQUIRED"]),
        (Constraint(("status",), 1, "*"), {"status": "final"}, []),
        (Constraint(("payload",), 2, "*"), {"payload": [{}]}, ["FHIR-REQUIRED"]),
        (Constraint(("payload",), 2, "*"), {"payload": {}}, ["FHIR-REQUIRED"]),
        (Constraint(("payload",), 2, "*"), {"payload": [{}, {}]}, []),
        (Constraint(("note",), 0, "1"), {"note": [{}, {}]}, ["FHIR-STRUCTURE"]),
        (Constraint(("note",), 0, "1"), {"note": [{}]}, []),
        (Constraint(("careTeam",), 1, "1"), {"careTeam": [{}, {}]}, ["FHIR-STRUCTURE"]),
        (Constraint(("intent",), 1, "*", "plan"), {"intent": "order"}, ["FHIR-STRUCTURE"]),
        (Constraint(("intent",), 1, "*", "plan"), {"intent": 7}, ["FHIR-STRUCTURE"]),
        (Constraint(("intent",), 1, "*", "plan"), {}, ["FHIR-REQUIRED"]),
        (
            Constraint(("a", "b", "c"), 1, "1"),
            {"a": [{"b": {"c": 1}}, {"b": [{}, 7]}]},
            ["FHIR-REQUIRED"],
        ),
        (
            Constraint(("a", "b", "c"), 1, "1"),
            {"a": [{"b": {"c": [1, 2]}}, "x"]},
            ["FHIR-STRUCTURE"],
        ),
        (Constraint(("a", "b"), 0, "*"), {"a": [{"b": [1, 2]}]}, []),
        (
            Constraint(("a", "b"), 0, "*", True),
            {"a": [{"b": False}, {"b": True}]},
            ["FHIR-STRUCTURE"],
        ),
    ],
)
def test_each_kind_of_constraint_reports_as_the_reference(
    constraint: Constraint, resource: dict[str, Any], codes: list[str]
) -> None:
    profile = Profile("http://example.org/StructureDefinition/x", "X", (constraint,))
    assert [i.code for i in _both(resource, profile)] == codes
