"""Certificates whose every header field varies, for format round trips.

``strategies_certificate.certificates()`` draws realistic answers for all three types behind
one fixed header; :func:`full_certificates` keeps those answers and draws the rest too:
patient names (with mellannamn) and address or none, kallaAdressuppgifter, issuer with
befattning, specialistkompetens, legitimeratYrke, unit and care provider, recipients,
relations, statuses, timestamps and a carried signature. Free text uses any XML-safe
characters. The shapes are those RegisterCertificate v3 can carry, in the canonical form the
RIVTA codec reads back (e.g. an address is ``None`` or has a non-empty field).

    from strategies_certificate_header import full_certificates
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st
from strategies_certificate import certificates, person_ids

from gateway.documents.certificate import Certificate, CertificateType, Relation, Status
from gateway.documents.common import (
    Address,
    CareUnit,
    Code,
    HealthcareProfessional,
    Identifier,
    Organisation,
    Person,
    PersonName,
)
from gateway.documents.identity import HSA_ID_OID, PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID

KV_INTYGSTYP = "b64ea353-e8f6-4832-b563-fc7d46f29548"
KV_BEFATTNING = "1.2.752.129.2.2.1.4"
KV_PART = "769bb12b-bd9f-4203-a5cd-fd14f2eb3b80"
KV_STATUS = "9871cd17-8755-4ed9-b894-ff3729e775a4"
KV_RELATION = "c2362fcd-eda0-4f9a-bd13-b3bbaf7f2146"
KV_KALLA_ADRESS = "4ade8de2-effe-41d0-b177-fedc820e69fa"
KV_LEGITIMERAT_YRKE = "1.2.752.29.23.1.6"
ARBETSPLATSKOD = "1.2.752.29.4.71"

#: A synthetic signature in the form the codec carries it (exclusive C14N of the element).
SIGNATURE = (
    '<ns6:underskrift xmlns:ns6="urn:riv:clinicalprocess:healthcond:certificate:3.2">'
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
    "</ds:CanonicalizationMethod>"
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256">'
    '</ds:SignatureMethod><ds:Reference URI="">'
    '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod>'
    "<ds:DigestValue>ZGlnZXN0</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    "<ds:SignatureValue>c2lnbmF0dXJl</ds:SignatureValue></ds:Signature></ns6:underskrift>"
)

#: Any text XML 1.0 can carry unchanged: no control characters but tab and newline (a
#: parser turns CR into LF), no surrogates or noncharacters.
xml_texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"))
    | st.sampled_from("\t\n<>&\"'"),
    max_size=20,
)
non_empty = xml_texts.filter(lambda s: s != "")
timestamps = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)
hsa_ids = st.from_regex(r"\ATSTNMT2321000156-[0-9A-Z]{1,6}\Z").map(
    lambda v: Identifier(system=HSA_ID_OID, value=v)
)


def codes(system: str | None, values: list[str]) -> st.SearchStrategy[Code]:
    return st.builds(
        Code,
        code=st.sampled_from(values),
        system=st.just(system),
        display=st.none() | xml_texts,
    )


@st.composite
def addresses(draw: st.DrawFn) -> Address | None:
    address = Address(street=draw(xml_texts), postal_code=draw(xml_texts), city=draw(xml_texts))
    return address if address.street or address.postal_code or address.city else None


@st.composite
def patients(draw: st.DrawFn) -> Person:
    samordning = draw(st.integers(0, 4)) == 0
    number = draw(person_ids())
    if samordning:  # day of birth + 60 (the check digit is the rules' business, not ours)
        number = number[:6] + str(int(number[6:8]) + 60) + number[8:]
    return Person(
        id=Identifier(
            system=SAMORDNINGSNUMMER_OID if samordning else PERSONNUMMER_OID, value=number
        ),
        name=PersonName(
            given=draw(xml_texts), family=draw(xml_texts), middle=draw(st.none() | xml_texts)
        ),
        address=draw(addresses()),
    )


@st.composite
def issuers(draw: st.DrawFn) -> HealthcareProfessional:
    unit = CareUnit(
        id=draw(hsa_ids),
        name=draw(xml_texts),
        workplace_code=Identifier(system=ARBETSPLATSKOD, value=draw(non_empty)),
        address=Address(street=draw(xml_texts), postal_code=draw(xml_texts), city=draw(xml_texts)),
        phone=draw(xml_texts),
        email=draw(st.none() | non_empty),
        care_provider=Organisation(id=draw(hsa_ids), name=draw(xml_texts)),
    )
    return HealthcareProfessional(
        id=draw(hsa_ids),
        name=draw(xml_texts),
        prescriber_code=draw(st.none() | st.from_regex(r"\A[0-9]{7}\Z")),
        positions=draw(st.lists(codes(KV_BEFATTNING, ["203090", "204010", "206090"]), max_size=2)),
        specialities=draw(st.lists(codes(None, ["N/A", "1100", "Kirurg"]), max_size=2)),
        licensed_professions=draw(
            st.lists(codes(KV_LEGITIMERAT_YRKE, ["LK", "SJ", "FT"]), max_size=2)
        ),
        unit=unit,
    )


certificate_ids = st.builds(Identifier, system=non_empty, value=non_empty)
relations = st.builds(
    Relation,
    type=codes(KV_RELATION, ["ERSATT", "KOMPLT", "FRLANG", "KOPIA"]),
    certificate_id=certificate_ids,
)
statuses = st.builds(
    Status,
    part=codes(KV_PART, ["FKASSA", "HSVARD", "INVANA"]),
    status=codes(KV_STATUS, ["SENTTO", "RECEIV", "CANCEL"]),
    at=timestamps,
)


@st.composite
def full_certificates(
    draw: st.DrawFn, types: tuple[CertificateType, ...] = tuple(CertificateType)
) -> Certificate:
    base = draw(certificates(types))
    if draw(st.booleans()):  # free text with any XML-safe character in the answers too
        answers = [
            a.model_copy(
                update={
                    "parts": [
                        p.model_copy(update={"value": draw(xml_texts)})
                        if isinstance(p.value, str)
                        else p
                        for p in a.parts
                    ]
                }
            )
            for a in base.answers
        ]
        base = base.model_copy(update={"answers": answers})
    return base.model_copy(
        update={
            "id": draw(certificate_ids),
            "type_code": base.type_code.model_copy(
                update={"system": KV_INTYGSTYP, "display": draw(st.none() | xml_texts)}
            ),
            "type_version": draw(st.sampled_from(["1.0", "1", "1.1", "2.0"])),
            "signed_at": draw(st.none() | timestamps),
            "sent_at": draw(st.none() | timestamps),
            "patient": draw(patients()),
            "patient_address_source": draw(
                st.none() | codes(KV_KALLA_ADRESS, ["PU", "PATIENT", "UTLANDSK"])
            ),
            "issuer": draw(issuers()),
            "recipients": draw(st.lists(codes(KV_PART, ["FKASSA", "AF", "ARBGIV"]), max_size=2)),
            "relations": draw(st.lists(relations, max_size=2)),
            "statuses": draw(st.lists(statuses, max_size=2)),
            "signature": draw(st.none() | st.just(SIGNATURE)),
        }
    )


__all__ = ["SIGNATURE", "full_certificates", "xml_texts"]
