"""Consent read completely (issue 9, class 4): every way a consent says no, in every input
format that carries one, is refused with its own code at the consent's path; the legitimate
consent still passes; validation and policy read it the same way."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel
from strategies_common import TOLVAN
from strategies_policy import AT, consent, return_to_work_plan, section4, sip

from gateway.cli.main import main
from gateway.documents import Document, DocumentKind, Recipient
from gateway.documents.common import (
    Code,
    Consent,
    ConsentPolicyRule,
    ConsentProvision,
    ConsentScope,
    ConsentStatus,
    Identifier,
    ProvisionType,
)
from gateway.documents.consent import aware, consent_problems, purpose_code
from gateway.documents.issues import Issue
from gateway.formats.base import Codec, Format
from gateway.formats.registry import codec_for
from gateway.policy import apply_policy
from gateway.validation.engine import check_document

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "interop" / "sklintyg"
AG7804 = SAMPLES / "ag7804-v1-full-diagnosis-shared.RegisterCertificate.xml"
OTHER = Identifier(system=TOLVAN.system, value="201212121212")
LATER = datetime(2099, 1, 1, tzinfo=UTC)  # after every transfer and validation here
EARLIER = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)  # after the consent was given, before AT
FREE_TEXT = Code(code="Patienten samtycker INTE till att arbetsgivaren får intyget")

#: (kind, the route the tests send it on, a document carrying a legitimate consent)
DOCUMENTS: dict[DocumentKind, tuple[Recipient, Document]] = {
    DocumentKind.SIP: (Recipient.MUNICIPALITY, sip()),
    DocumentKind.SECTION4_NOTIFICATION: (Recipient.FORSAKRINGSKASSAN, section4()),
    DocumentKind.RETURN_TO_WORK_PLAN: (
        Recipient.REGION,
        return_to_work_plan(
            consent=consent(
                [Recipient.REGION], "return-to-work", kind=DocumentKind.RETURN_TO_WORK_PLAN
            )
        ),
    ),
}
INPUTS = [Format.XML, Format.FHIR_JSON, Format.FHIR_XML]
DENY = ConsentProvision(type=ProvisionType.DENY)

#: attack -> (changes to the legitimate consent, refusal code, path inside the consent)
ATTACKS: dict[str, tuple[dict[str, Any], str, str]] = {
    **{
        f"status {s}": ({"status": s}, "POLICY-CONSENT-STATUS", "status")
        for s in ConsentStatus
        if s is not ConsentStatus.ACTIVE
    },
    "deny at the top": ({"type": ProvisionType.DENY}, "POLICY-CONSENT-DENIED", "type"),
    "nested deny": (
        {"provisions": [ConsentProvision(type=ProvisionType.PERMIT), DENY]},
        "POLICY-CONSENT-DENIED",
        "provisions[1]",
    ),
    "nested deny in words": (
        {"provisions": [DENY.model_copy(update={"purposes": [FREE_TEXT]})]},
        "POLICY-CONSENT-DENIED",
        "provisions[0]",
    ),
    "period starts in the future": (
        {"valid_from": LATER},
        "POLICY-CONSENT-NOT-YET-VALID",
        "valid_from",
    ),
    "period ended": ({"withdrawn_at": EARLIER}, "POLICY-CONSENT-WITHDRAWN", "withdrawn_at"),
    "opt-out": (
        {"policy_rule": ConsentPolicyRule.OPT_OUT},
        "POLICY-CONSENT-OPT-OUT",
        "policy_rule",
    ),
    "opt-out with exceptions": (
        {"policy_rule": ConsentPolicyRule.OPT_OUT_EXCEPTIONS},
        "POLICY-CONSENT-OPT-OUT",
        "policy_rule",
    ),
    "another patient": ({"patient": OTHER}, "POLICY-CONSENT-OTHER-PATIENT", "patient"),
    "given by another": ({"given_by": OTHER}, "POLICY-CONSENT-OTHER-PATIENT", "given_by"),
    "free-text purpose": (
        {"purposes": [FREE_TEXT]},
        "POLICY-CONSENT-PURPOSE-UNCODED",
        "purposes",
    ),
    "free-text purpose in the purpose system": (
        {"purposes": [FREE_TEXT.model_copy(update={"system": "consent-purpose"})]},
        "POLICY-CONSENT-PURPOSE-UNCODED",
        "purposes",
    ),
    "a declared purpose of another system": (
        {"purposes": [Code(code="sip", system="1.2.752.129.2.2.1.4")]},
        "POLICY-CONSENT-PURPOSE-UNCODED",
        "purposes",
    ),
    "another kind's purpose": (
        {"purposes": [purpose_code("sick-pay")]},
        "POLICY-CONSENT-PURPOSE",
        "purposes",
    ),
    "another document": (
        {"scope": "other-document"},
        "POLICY-CONSENT-OTHER-DOCUMENT",
        "scope.document_id",
    ),
    "another kind": ({"scope": "other-kind"}, "POLICY-CONSENT-OTHER-KIND", "scope.kind"),
}
#: The older code a kind's validation keeps for a reason it had one for.
LEGACY = {
    DocumentKind.SECTION4_NOTIFICATION: {
        "POLICY-CONSENT-WITHDRAWN": "S4-CONSENT-WITHDRAWN",
        "POLICY-CONSENT-OTHER-PATIENT": "S4-CONSENT-NOT-PATIENT",
    },
    DocumentKind.SIP: {"POLICY-CONSENT-WITHDRAWN": "SIP-CONSENT-WITHDRAWN"},
}


def attacked(kind: DocumentKind, attack: str) -> Document:
    _, doc = DOCUMENTS[kind]
    own = own_consent(doc)
    changes = dict(ATTACKS[attack][0])
    if changes.get("scope") == "other-document":
        changes["scope"] = ConsentScope(kind=kind, document_id=f"{doc.id}-2")
    elif changes.get("scope") == "other-kind":
        changes["scope"] = ConsentScope(kind=DocumentKind.CERTIFICATE)
    return doc.model_copy(update={"consent": own.model_copy(update=changes)})


def codec(kind: DocumentKind, fmt: Format) -> Codec:
    found = codec_for(kind, fmt)
    assert not isinstance(found, Issue), found
    return found


def own_consent(doc: Document) -> Consent:
    found = getattr(doc, "consent", None)
    assert isinstance(found, Consent)
    return found


def instants(value: Any) -> Any:
    """``value`` with every time as a UTC instant (naive means Swedish time)."""
    if isinstance(value, BaseModel):
        return {k: instants(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, list):
        return [instants(v) for v in value]
    return aware(value).astimezone(UTC) if isinstance(value, datetime) else value


def read_back(doc: Document, fmt: Format) -> Document:
    """``doc`` as a sender would send it in ``fmt``, read by the gateway."""
    c = codec(doc.kind, fmt)
    parsed = c.parse(c.render(doc))
    assert parsed.document is not None, parsed.issues
    # the attack survives every codec, nothing lost (FHIR gives times as Swedish local time)
    assert instants(parsed.document) == instants(doc)
    return parsed.document


def refusal(doc: Document, recipient: Recipient) -> list[tuple[str, str, str]]:
    result = apply_policy(doc, recipient, at=AT)
    assert result.refused == (result.document is None)
    return [(str(e.action), e.code, e.path) for e in result.report if e.action == "refused"]


@pytest.mark.parametrize("fmt", INPUTS, ids=str)
@pytest.mark.parametrize("kind", list(DOCUMENTS), ids=str)
def test_the_legitimate_consent_passes(kind: DocumentKind, fmt: Format) -> None:
    recipient, doc = DOCUMENTS[kind]
    back = read_back(doc, fmt)
    result = apply_policy(back, recipient, at=AT)
    assert not result.refused and result.consent_id == "c1"
    assert [
        i.code for i in check_document(back) if i.code.startswith(("POLICY", "S4-C", "SIP-C"))
    ] == []


@pytest.mark.parametrize("fmt", INPUTS, ids=str)
@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("kind", list(DOCUMENTS), ids=str)
def test_every_attack_is_refused_in_every_input_format(
    kind: DocumentKind, attack: str, fmt: Format
) -> None:
    recipient, _ = DOCUMENTS[kind]
    _, code, where = ATTACKS[attack]
    doc = read_back(attacked(kind, attack), fmt)
    assert refusal(doc, recipient) == [("refused", code, f"consent[id=c1].{where}")]
    # validation reads it the same way (with the kind's older code where it has one)
    expected = LEGACY.get(kind, {}).get(code, code)
    assert expected in [i.code for i in check_document(doc)]


def test_a_withdrawal_dated_after_the_transfer_does_not_stop_it() -> None:
    """Validation used to call this consent withdrawn and policy let it pass."""
    for kind, (recipient, doc) in DOCUMENTS.items():
        own = own_consent(doc)
        later = doc.model_copy(update={"consent": own.model_copy(update={"withdrawn_at": LATER})})
        assert not apply_policy(later, recipient, at=AT).refused
        assert not [i for i in check_document(later) if "WITHDRAWN" in i.code], kind


def test_deny_provisions_that_do_not_apply_leave_the_consent_standing() -> None:
    recipient, doc = DOCUMENTS[DocumentKind.SIP]
    own = own_consent(doc)
    for deny in (
        DENY.model_copy(update={"recipients": [Recipient.EMPLOYER]}),  # another recipient
        DENY.model_copy(update={"purposes": [purpose_code("sick-pay")]}),  # another purpose
        DENY.model_copy(update={"start": LATER}),  # not yet
        DENY.model_copy(update={"end": EARLIER}),  # no longer
    ):
        kept = doc.model_copy(update={"consent": own.model_copy(update={"provisions": [deny]})})
        assert not apply_policy(kept, recipient, at=AT).refused, deny
        denied = apply_policy(kept, Recipient.EMPLOYER, at=AT)
        assert denied.refused == (deny.recipients == [Recipient.EMPLOYER]), deny


def test_a_free_text_purpose_never_authorises_whatever_it_says() -> None:
    """Replaces issue 11's pin 'a consent purpose matches whole words only': purposes are
    codes, and no text - however close to a route's purpose - authorises anything."""
    cert = DOCUMENTS[DocumentKind.SIP][1]
    for words in ("sip", "SIP", "Samordnad individuell plan", "sick-pay", "Gossip", "sip sip"):
        own = consent([Recipient.MUNICIPALITY], "sip", kind=DocumentKind.SIP)
        text = own.model_copy(update={"purposes": [Code(code=words)]})
        problems = consent_problems(
            text, kind=DocumentKind.SIP, document_id="sip-1", patient=TOLVAN, at=AT
        )
        assert [p.rule.code for p in problems] == ["POLICY-CONSENT-PURPOSE-UNCODED"], words
        doc = cert.model_copy(update={"consent": text})
        assert refusal(doc, Recipient.MUNICIPALITY)[0][1] == "POLICY-CONSENT-PURPOSE-UNCODED"


def test_a_sips_consent_does_not_authorise_a_certificate() -> None:
    sip_consent = own_consent(DOCUMENTS[DocumentKind.SIP][1])
    cert = sip_consent.model_copy(
        update={"recipients": [Recipient.EMPLOYER], "purposes": [purpose_code("rehabilitation")]}
    )
    from test_policy import certificate

    doc = certificate("ag7804-v1-no-diagnosis")
    result = apply_policy(doc, Recipient.EMPLOYER, consent=cert, at=AT)
    assert [(e.code, e.path) for e in result.report] == [
        ("POLICY-CONSENT-OTHER-KIND", "consent[id=c1].scope.kind")
    ]
    ok = cert.model_copy(update={"scope": ConsentScope(kind=DocumentKind.CERTIFICATE)})
    assert not apply_policy(doc, Recipient.EMPLOYER, consent=ok, at=AT).refused
    named = ConsentScope(kind=DocumentKind.CERTIFICATE, document_id=doc.id.value)
    assert not apply_policy(
        doc, Recipient.EMPLOYER, consent=ok.model_copy(update={"scope": named}), at=AT
    ).refused


# -- the --consent JSON of `gateway redact` (a certificate's consent) ---------------------------


def _certificate_consent(**changes: Any) -> Consent:
    return consent([Recipient.EMPLOYER], "sick-pay", kind=DocumentKind.CERTIFICATE, **changes)


CLI_ATTACKS = {
    name: changes
    for name, (changes, _, _) in ATTACKS.items()
    if name in ("status rejected", "deny at the top", "nested deny", "opt-out", "given by another")
    or name.startswith(("period", "free-text", "another"))
}


@pytest.mark.parametrize("attack", [None, *CLI_ATTACKS])
def test_redact_consent_file(
    attack: str | None, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    changes = dict(CLI_ATTACKS[attack]) if attack else {}
    if changes.get("scope") == "other-document":
        changes["scope"] = ConsentScope(kind=DocumentKind.CERTIFICATE, document_id="x")
    elif changes.get("scope") == "other-kind":
        changes["scope"] = ConsentScope(kind=DocumentKind.SIP)
    if attack == "another kind's purpose":
        changes["purposes"] = [purpose_code("sip")]
    record = _certificate_consent(**changes)
    path = tmp_path / "consent.json"
    path.write_text(record.model_dump_json())
    assert Consent.model_validate_json(path.read_bytes()) == record  # lossless
    argv = ["redact", str(AG7804), "--for", "employer", "--consent", str(path)]
    rc = main([*argv, "--at", AT.isoformat()])
    out, err = capsysbinary.readouterr()
    if attack is None:
        assert rc == 0 and out
        return
    code = ATTACKS[attack][1]
    assert rc == 1 and out == b""
    assert f"refused {code} [consent[id=c1].".encode() in err


# -- FHIR: what only FHIR can say ---------------------------------------------------------------


def _fhir(kind: DocumentKind) -> tuple[dict[str, Any], dict[str, Any]]:
    tree = orjson.loads(codec(kind, Format.FHIR_JSON).render(DOCUMENTS[kind][1]))
    found = next(e["resource"] for e in tree["entry"] if e["resource"]["resourceType"] == "Consent")
    return tree, found


def _read(kind: DocumentKind, tree: dict[str, Any]) -> Document:
    parsed = codec(kind, Format.FHIR_JSON).parse(orjson.dumps(tree))
    assert parsed.document is not None and parsed.issues == [], parsed.issues
    return parsed.document


def test_fhir_deny_nested_at_any_depth_wins() -> None:
    tree, res = _fhir(DocumentKind.SIP)
    deep: dict[str, Any] = {"type": "deny"}
    for _ in range(4):
        deep = {"type": "permit", "provision": [deep]}
    res["provision"]["provision"] = [deep]
    doc = _read(DocumentKind.SIP, tree)
    assert [p.type for p in own_consent(doc).provisions] == ["permit"] * 4 + ["deny"]
    assert refusal(doc, Recipient.MUNICIPALITY) == [
        ("refused", "POLICY-CONSENT-DENIED", "consent[id=c1].provisions[4]")
    ]


def test_fhir_consent_about_another_patient_entry() -> None:
    tree, res = _fhir(DocumentKind.SIP)
    patient = next(e for e in tree["entry"] if e["resource"]["resourceType"] == "Patient")
    other = copy.deepcopy(patient)
    other["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    other["resource"]["id"] = "00000000-0000-4000-8000-000000000001"
    other["resource"]["identifier"][0]["value"] = OTHER.value
    tree["entry"].append(other)
    res["patient"] = {"reference": other["fullUrl"]}
    doc = _read(DocumentKind.SIP, tree)
    assert own_consent(doc).patient == OTHER
    assert refusal(doc, Recipient.MUNICIPALITY) == [
        ("refused", "POLICY-CONSENT-OTHER-PATIENT", "consent[id=c1].patient")
    ]


def test_fhir_actor_is_an_organization_where_the_recipient_is_known() -> None:
    tree, res = _fhir(DocumentKind.SECTION4_NOTIFICATION)
    (actor,) = res["provision"]["actor"]
    assert actor["reference"] == {
        "type": "Organization",
        "identifier": {"system": "urn:oid:2.5.4.97", "value": "2021005521"},
        "display": "Försäkringskassan",
    }
    assert res["provision"]["purpose"][0]["code"] == "section4"
    assert res["provision"]["class"][0]["code"] == "section4-notification"
    # the organisation number as often written, and an Organization entry in the Bundle
    actor["reference"]["identifier"]["value"] = "202100-5521"
    assert instants(_read(DocumentKind.SECTION4_NOTIFICATION, tree)) == instants(
        DOCUMENTS[DocumentKind.SECTION4_NOTIFICATION][1]
    )
    org = {
        "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002",
        "resource": {
            "resourceType": "Organization",
            "id": "00000000-0000-4000-8000-000000000002",
            "identifier": [{"system": "urn:oid:2.5.4.97", "value": "2021005521"}],
            "name": "Försäkringskassan",
        },
    }
    tree["entry"].append(org)
    actor["reference"] = {"reference": org["fullUrl"]}
    assert own_consent(_read(DocumentKind.SECTION4_NOTIFICATION, tree)).recipients == [
        Recipient.FORSAKRINGSKASSAN
    ]


def test_fhir_opt_out_and_status_as_a_sender_writes_them() -> None:
    for change, code in (
        ({"status": "rejected"}, "POLICY-CONSENT-STATUS"),
        ({"status": "entered-in-error"}, "POLICY-CONSENT-STATUS"),
        (
            {
                "policyRule": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "OPTOUT",
                        }
                    ]
                }
            },
            "POLICY-CONSENT-OPT-OUT",
        ),
    ):
        tree, res = _fhir(DocumentKind.SIP)
        res.update(change)
        doc = _read(DocumentKind.SIP, tree)
        assert refusal(doc, Recipient.MUNICIPALITY)[0][1] == code


def test_consent_json_round_trip_keeps_everything() -> None:
    full = _certificate_consent(
        patient=TOLVAN,
        policy_rule=ConsentPolicyRule.OPT_IN_RESTRICTED,
        valid_from=EARLIER,
        withdrawn_at=LATER,
        scope=ConsentScope(kind=DocumentKind.CERTIFICATE, document_id="intyg-1"),
        provisions=[DENY.model_copy(update={"recipients": [Recipient.REGION], "end": LATER})],
    )
    assert Consent.model_validate_json(full.model_dump_json()) == full
    assert Consent.model_validate(json.loads(full.model_dump_json())) == full


def test_the_published_code_system_is_the_declared_one() -> None:
    """schemas/fhir/codesystems/CodeSystem-consent-purpose.json cannot drift from
    mappings/consent.toml, which the gateway reads."""
    from gateway import SCHEMAS_DIR
    from gateway.documents.consent import purpose_system
    from gateway.formats.fhir.systems import to_uri

    ps = purpose_system()
    cs = json.loads(
        (SCHEMAS_DIR / "fhir" / "codesystems" / "CodeSystem-consent-purpose.json").read_text()
    )
    assert cs["url"] == to_uri(ps.system)
    assert {c["code"]: c["display"] for c in cs["concept"]} == dict(ps.displays)


def test_the_exchange_reads_an_envelopes_consent_completely() -> None:
    """A certificate travels to an employer in a FHIR message with its consent as an entry
    of the message; validation reads it once, completely, with the same codec, and hands it
    on (``Validation.consents``), so every attack shows and the router reads no tree."""
    from exchange_support import certificate_message

    from gateway.validation.service import validate_bytes

    def offered(tree: dict[str, Any]) -> list[Consent]:
        v = validate_bytes(orjson.dumps(tree))
        assert v.envelope is not None and v.valid, v.issues
        return v.consents

    tree = orjson.loads(certificate_message())
    (found,) = offered(tree)
    assert found.patient is not None  # its Patient resolved by reference, kept by identifier
    assert found.scope.kind is DocumentKind.CERTIFICATE and found.status == "active"
    res = next(e["resource"] for e in tree["entry"] if e["resource"]["resourceType"] == "Consent")
    res["status"] = "rejected"
    res["provision"]["provision"] = [{"type": "permit", "provision": [{"type": "deny"}]}]
    (found,) = offered(tree)
    assert found.status == "rejected" and [p.type for p in found.provisions] == ["permit", "deny"]
