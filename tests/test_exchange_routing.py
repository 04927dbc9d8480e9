"""The accept pipeline as a property: for any destinations and any consent, a message goes to
exactly the permitted recipients of its audiences, each either with its own copy or refused
with the rule that refused it, and the employer's copy never holds diagnosis data."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from exchange_support import FK7804_XML, T0, certificate_message, config_data, make_config
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.exchange.config import parse
from gateway.exchange.router import Accepted, Refusal, Rejection, receive
from gateway.exchange.store.base import DeliveryState
from gateway.transfer import prepare

AUDIENCES = ("employer", "forsakringskassan", "occupational-health")
RECIPIENT_OF = {
    "employer": "acme",
    "forsakringskassan": "fk",
    "occupational-health": "pull-employer",
}
CONFIG = make_config()
SENDER = CONFIG.sender("region-vg")


@settings(max_examples=25)
@given(
    audiences=st.lists(st.sampled_from(AUDIENCES), min_size=1, max_size=3, unique=True),
    covers=st.lists(
        st.sampled_from(("employer", "occupational-health")), min_size=1, max_size=2, unique=True
    ),
    with_consent=st.booleans(),
)
def test_each_audience_gets_its_copy_or_its_refusal(
    audiences: list[str], covers: list[str], with_consent: bool
) -> None:
    assert SENDER is not None
    body = certificate_message(
        FK7804_XML,
        tuple(audiences),
        message_id="prop-1",
        consent_id="c-1" if with_consent else None,
        covers=tuple(covers),
    )
    result = receive(
        body, content_type="application/fhir+json", sender=SENDER, config=CONFIG, now=T0
    )

    def allowed(audience: str) -> bool:  # Försäkringskassan needs no consent for an FK7804
        return audience == "forsakringskassan" or (with_consent and audience in covers)

    if not any(allowed(a) for a in audiences):
        assert isinstance(result, Rejection)
        assert result.reason is Refusal.INVALID
        assert {i.code for i in result.issues} <= {
            "POLICY-CONSENT-MISSING",
            "POLICY-CONSENT-NOT-COVERING",
        }
        return
    assert isinstance(result, Accepted)
    got = {d.recipient_id: d for d in result.message.deliveries}
    assert set(got) == {RECIPIENT_OF[a] for a in audiences}
    for audience in audiences:
        d = got[RECIPIENT_OF[audience]]
        if allowed(audience):
            assert d.state in (DeliveryState.PENDING, DeliveryState.OFFERED)
            assert d.payload is not None
        else:
            assert d.state is DeliveryState.REFUSED
            assert d.payload is None
            assert d.last_error in ("POLICY-CONSENT-MISSING", "POLICY-CONSENT-NOT-COVERING")
    employer = got.get("acme")
    if employer is not None and employer.payload is not None:
        assert b"M54" not in employer.payload
        assert "Ryggvärk".encode() not in employer.payload


def test_recipients_alike_in_role_organisation_and_format_share_one_prepared_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two endpoints of one employer (one organisation) taking FHIR JSON get the same copy,
    prepared once; Försäkringskassan, another role, gets its own."""
    import gateway.exchange.router as router

    data = config_data()
    acme = next(r for r in data["recipients"] if r["id"] == "acme")
    data["recipients"].append({**acme, "id": "acme-2", "organisation": "556123-4567"})
    data["senders"][0]["recipients"].append("acme-2")
    config = parse(data)
    sender = config.sender("region-vg")
    assert sender is not None
    prepared: list[tuple[str, str]] = []

    def counting(document: Any, recipient: Any, **kw: Any) -> Any:
        prepared.append((str(recipient), str(kw["to"])))
        return prepare(document, recipient, **kw)

    monkeypatch.setattr(router, "prepare", counting)
    body = certificate_message(FK7804_XML, ("employer", "forsakringskassan"), message_id="two")
    result = receive(
        body, content_type="application/fhir+json", sender=sender, config=config, now=T0
    )
    assert isinstance(result, Accepted)
    assert sorted(prepared) == [("employer", "fhir-json"), ("forsakringskassan", "xml")]
    got = {d.recipient_id: d for d in result.message.deliveries}
    assert set(got) == {"acme", "acme-2", "fk"}
    assert {d.state for d in got.values()} == {DeliveryState.PENDING}
    assert got["acme"].payload == got["acme-2"].payload != got["fk"].payload
    assert got["acme"].delivery_id != got["acme-2"].delivery_id
    policy = {e.recipient_id: e.detail for e in result.message.audit if e.action == "policy"}
    assert set(policy) == {"acme", "acme-2", "fk"}
    assert policy["acme"] == policy["acme-2"] != policy["fk"]
    assert policy["acme"]["sha256"] == hashlib.sha256(got["acme"].payload or b"").hexdigest()


def test_a_consent_naming_one_employer_reaches_that_employer_only() -> None:
    """Consent is to a named recipient (issue 15, class 8): a message routed to two employers
    on a consent that names one of them by organisation number reaches that one; the other
    is refused with POLICY-CONSENT-ORGANISATION, and an audience-only consent reaches none."""
    data = config_data()
    acme = next(r for r in data["recipients"] if r["id"] == "acme")
    data["recipients"].append({**acme, "id": "other-employer", "organisation": "5569876543"})
    data["senders"][0]["recipients"].append("other-employer")
    config = parse(data)
    sender = config.sender("region-vg")
    assert sender is not None
    body = certificate_message(FK7804_XML, ("employer", "forsakringskassan"), message_id="named")
    result = receive(
        body, content_type="application/fhir+json", sender=sender, config=config, now=T0
    )
    assert isinstance(result, Accepted)
    got = {d.recipient_id: d for d in result.message.deliveries}
    assert got["acme"].state is DeliveryState.PENDING
    assert got["other-employer"].state is DeliveryState.REFUSED
    assert got["other-employer"].last_error == "POLICY-CONSENT-ORGANISATION"


def test_a_recipient_whose_endpoint_cannot_carry_the_kind_is_refused_at_accept() -> None:
    """A RIVTA SOAP endpoint has contracts for certificates and §4 notifications only: a SIP
    named to it is refused when it is posted, with the reason (not accepted and then
    dead-lettered by the transport); a certificate goes to it as RegisterCertificate whatever
    format the recipient is configured with."""
    from gateway import FIXTURES_DIR

    sip = (FIXTURES_DIR / "sip" / "valid-four-principals.xml").read_bytes()
    assert SENDER is not None
    result = receive(
        sip,
        content_type="application/xml",
        named=["fk"],
        message_id="sip-to-fk",
        sender=SENDER,
        config=CONFIG,
        now=T0,
    )
    assert isinstance(result, Rejection) and result.reason is Refusal.INVALID
    assert [(i.code, i.message) for i in result.issues] == [
        (
            "EXCHANGE-CANNOT-RENDER",
            "refused for fk: its rivta-soap endpoint carries certificate, "
            "section4-notification, not a sip",
        )
    ]
    data = config_data()
    fk = next(r for r in data["recipients"] if r["id"] == "fk")
    fk["format"] = "fhir-json"
    config = parse(data)
    sender = config.sender("region-vg")
    assert sender is not None
    body = certificate_message(FK7804_XML, ("forsakringskassan",), message_id="as-rivta")
    got = receive(body, content_type="application/fhir+json", sender=sender, config=config, now=T0)
    assert isinstance(got, Accepted)
    (delivery,) = got.message.deliveries
    assert delivery.format == "xml" and delivery.payload is not None
    assert b"RegisterCertificate" in delivery.payload[:400]


def test_the_server_says_at_start_up_what_its_configuration_will_always_refuse() -> None:
    """A sender allowed a kind to a recipient whose endpoint cannot carry it is named when
    the server starts (every such message is refused for that recipient), as is a
    configuration without senders."""
    from gateway.cli.serve import startup_notices
    from gateway.exchange.router import not_carried

    assert not_carried(CONFIG) == [("region-vg", "sip", "fk")]
    assert startup_notices(CONFIG) == [
        "sender 'region-vg' may send a sip to 'fk', whose endpoint cannot carry it: such a "
        "message is refused for 'fk' (EXCHANGE-CANNOT-RENDER)"
    ]
    data = config_data()
    data["senders"] = []
    assert startup_notices(parse(data)) == [
        "no senders configured: every message will be refused (docs/exchange/configuration.md)"
    ]
