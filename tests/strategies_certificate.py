"""Certificates for tests: fixed valid examples, edit helpers and hypothesis strategies.

"Valid" means: ``gateway.validation.certificate_rules.check`` finds nothing. Every text is
XML-safe. Reuse them for RIVTA/FHIR round trips and policy properties:
``from strategies_certificate import certificates, fk7804, ag7804, ag114``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from hypothesis import strategies as st
from strategies_common import TOLVAN_NUMBER, person_numbers, with_check_digit

from gateway.documents.certificate import (
    RIVTA_TYPE_CODES,
    Answer,
    AnswerValue,
    Certificate,
    CertificateType,
    Quantity,
    SubAnswer,
)
from gateway.documents.common import (
    Address,
    CareUnit,
    Code,
    HealthcareProfessional,
    Identifier,
    Organisation,
    Period,
    Person,
    PersonName,
)
from gateway.documents.identity import HSA_ID_OID, PERSONNUMMER_OID

ICD10 = "1.2.752.116.1.1.1.1.3"
KSH97P = "1.2.752.116.1.3.1.4.1"
TYPE_CODE_SYSTEM = "b64ea353-e8f6-4832-b563-fc7d46f29548"  # KV_INTYGSTYP
TOLVAN = TOLVAN_NUMBER

# ------------------------------------------------------------------------------ building


def part(part_id: str, value: AnswerValue) -> SubAnswer:
    return SubAnswer(id=part_id, value=value)


def cv(part_id: str, code: str, system: str, display: str | None = None) -> SubAnswer:
    return SubAnswer(id=part_id, value=Code(code=code, system=system, display=display))


def period(part_id: str, start: date, end: date) -> SubAnswer:
    return SubAnswer(id=part_id, value=Period(start=start, end=end))


def answer(answer_id: str, *parts: SubAnswer, instance: int | None = None) -> Answer:
    return Answer(id=answer_id, instance=instance, parts=list(parts))


def certificate(
    cert_type: CertificateType, answers: Sequence[Answer], person_id: str = TOLVAN
) -> Certificate:
    unit = CareUnit(
        id=Identifier(system=HSA_ID_OID, value="TSTNMT2321000156-1077"),
        name="NMT vg3 ve1",
        workplace_code=Identifier(system="1.2.752.29.4.71", value="1234567890"),
        address=Address(street="NMT gata 2", postal_code="12345", city="Testhult"),
        phone="0101112131415",
        care_provider=Organisation(
            id=Identifier(system=HSA_ID_OID, value="TSTNMT2321000156-102Q"), name="NMT vg3"
        ),
    )
    return Certificate(
        id=Identifier(system="TSTNMT2321000156-1077", value="9020fbb9-e387-40b0-ba75-0001"),
        type=cert_type,
        type_code=Code(code=RIVTA_TYPE_CODES[cert_type], system=TYPE_CODE_SYSTEM),
        type_version="1.0",
        signed_at=datetime(2016, 8, 1, 12, 0),
        patient=Person(
            id=Identifier(system=PERSONNUMMER_OID, value=person_id),
            name=PersonName(given="Tolvan", family="Tolvansson"),
        ),
        issuer=HealthcareProfessional(
            id=Identifier(system=HSA_ID_OID, value="TSTNMT2321000156-1079"),
            name="Arnold Johansson",
            unit=unit,
        ),
        answers=list(answers),
    )


# ------------------------------------------------------------------------------ editing


def edit_answers(cert: Certificate, edit: Callable[[list[Answer]], list[Answer]]) -> Certificate:
    return cert.model_copy(update={"answers": edit(list(cert.answers))})


def without(cert: Certificate, question_id: str) -> Certificate:
    return edit_answers(cert, lambda a: [x for x in a if x.id != question_id])


def adding(cert: Certificate, *answers: Answer) -> Certificate:
    return edit_answers(cert, lambda a: [*a, *answers])


def edit_part(
    cert: Certificate,
    part_id: str,
    value: AnswerValue | None,
    nth: int = 0,
) -> Certificate:
    """Replace (or, with ``value=None``, remove) part ``part_id`` of the nth answer having it;
    adds the part when that answer lacks it (nth answer of the part's question)."""
    question_id = part_id.partition(".")[0]
    out: list[Answer] = []
    seen = 0
    for a in cert.answers:
        if a.id == question_id:
            if seen == nth:
                parts = [p for p in a.parts if p.id != part_id]
                if value is not None:
                    old = [i for i, p in enumerate(a.parts) if p.id == part_id]
                    parts.insert(old[0] if old else len(parts), part(part_id, value))
                a = a.model_copy(update={"parts": parts})
            seen += 1
        out.append(a)
    return cert.model_copy(update={"answers": out})


def with_person(cert: Certificate, person_id: str) -> Certificate:
    patient = cert.patient.model_copy(
        update={"id": Identifier(system=PERSONNUMMER_OID, value=person_id)}
    )
    return cert.model_copy(update={"patient": patient})


# ------------------------------------------------------------------------------ fixed examples


def fk7804() -> Certificate:
    """A valid FK7804 with every question the tests edit: 2 bases (one ANNAT), current work,
    a main and a secondary diagnosis, two sick-leave periods (one partial, so 33), prognosis,
    two measures and their description."""
    return certificate(
        CertificateType.FK7804,
        [
            answer(
                "1",
                cv("1.1", "UNDERSOKNING", "KV_FKMU_0001"),
                part("1.2", "2016-08-01"),
                instance=1,
            ),
            answer(
                "1",
                cv("1.1", "ANNAT", "KV_FKMU_0001"),
                part("1.2", "2016-08-02"),
                part("1.3", "Samtal med anhörig"),
                instance=2,
            ),
            answer("28", cv("28.1", "NUVARANDE_ARBETE", "KV_FKMU_0002"), instance=1),
            answer("29", part("29.1", "Snickare")),
            answer(
                "6",
                part("6.1", "Ryggvärk"),
                cv("6.2", "M54", ICD10),
                part("6.3", "Sömnstörning"),
                cv("6.4", "G47", ICD10),
            ),
            answer("35", part("35.1", "Nedsatt rörlighet")),
            answer("17", part("17.1", "Kan inte lyfta")),
            answer(
                "32",
                cv("32.1", "HELT_NEDSATT", "KV_FKMU_0003"),
                period("32.2", date(2016, 8, 8), date(2016, 8, 21)),
                instance=1,
            ),
            answer(
                "32",
                cv("32.1", "HALFTEN", "KV_FKMU_0003"),
                period("32.2", date(2016, 8, 22), date(2016, 9, 4)),
                instance=2,
            ),
            answer("33", part("33.1", "true"), part("33.2", "Förmiddagar")),
            answer(
                "39",
                cv("39.1", "ATER_X_ANTAL_DGR", "KV_FKMU_0006"),
                cv("39.3", "SEXTIO_DGR", "KV_FKMU_0007"),
            ),
            answer("40", cv("40.1", "ARBETSTRANING", "KV_FKMU_0004"), instance=1),
            answer("40", cv("40.1", "KONTAKT_FHV", "KV_FKMU_0004"), instance=2),
            answer("44", part("44.1", "Arbetsträning via FHV")),
            answer("26", part("26.1", "true"), part("26.2", "Diskutera åtgärder")),
        ],
    )


def ag7804(share: bool = True) -> Certificate:
    """A valid AG7804; with ``share`` the patient wants the diagnosis passed on (100.1)."""
    cert = fk7804()
    answers = [
        a.model_copy(
            update={
                "id": "103",
                "parts": [part("103.1", "true"), part("103.2", "Diskutera åtgärder")],
            }
        )
        if a.id == "26"
        else a
        for a in cert.answers
        if share or a.id != "6"
    ]
    answers.insert(4, answer("100", part("100.1", "true" if share else "false")))
    return cert.model_copy(
        update={
            "type": CertificateType.AG7804,
            "answers": answers,
            "type_code": Code(code="AG7804", system=TYPE_CODE_SYSTEM),
        }
    )


def ag114(share: bool = True) -> Certificate:
    """A valid AG1-14; with ``share`` the patient wants the diagnoses passed on (3.1)."""
    diagnoses = [
        answer("4", part("4.1", "Ryggvärk"), cv("4.2", "M54", ICD10), instance=1),
        answer("4", part("4.1", "Sömnstörning"), cv("4.2", "G47", ICD10), instance=2),
    ]
    return certificate(
        CertificateType.AG1_14,
        [
            answer(
                "10",
                cv("10.1", "UNDERSOKNING", "KV_FKMU_0001"),
                part("10.2", "2016-08-01"),
                instance=1,
            ),
            answer(
                "10",
                cv("10.1", "ANNAT", "KV_FKMU_0001"),
                part("10.2", "2016-08-02"),
                part("10.3", "Samtal med anhörig"),
                instance=2,
            ),
            answer("1", cv("1.1", "NUVARANDE_ARBETE", "KV_FKMU_0002"), instance=1),
            answer("2", part("2.1", "Snickare")),
            answer("3", part("3.1", "true" if share else "false")),
            *(diagnoses if share else []),
            answer("5", part("5.1", "Kan inte lyfta")),
            answer("6", part("6.1", "true"), part("6.2", "Lätta arbetsuppgifter")),
            answer(
                "7",
                part("7.1", Quantity(value=50.0, unit="%")),
                period("7.2", date(2016, 8, 8), date(2016, 8, 21)),
            ),
            answer("8", part("8.1", "Inget")),
            answer("9", part("9.1", "true"), part("9.2", "Chefen, om anpassning")),
        ],
    )


# ------------------------------------------------------------------------------ strategies

texts = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzåäöABCÅÄÖ0123456789 ,.-"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "")
past_dates = st.dates(min_value=date(2010, 1, 1), max_value=date(2024, 12, 31))
diagnosis_codes = st.sampled_from(["M54", "G47", "J22", "S47", "D50", "F321", "Z730", "T241"])


def person_ids() -> st.SearchStrategy[str]:
    """A personnummer with a correct check digit (born 1920-2009)."""
    return person_numbers(date(1920, 1, 1), date(2009, 12, 31))


@st.composite
def _bases(draw: st.DrawFn, qid: str) -> list[Answer]:
    codes = draw(
        st.lists(
            st.sampled_from(["UNDERSOKNING", "TELEFONKONTAKT", "JOURNALUPPGIFTER", "ANNAT"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    out = []
    for n, code in enumerate(codes, 1):
        parts = [
            cv(f"{qid}.1", code, "KV_FKMU_0001"),
            part(f"{qid}.2", draw(past_dates).isoformat()),
        ]
        if code == "ANNAT":
            parts.append(part(f"{qid}.3", draw(texts)))
        out.append(answer(qid, *parts, instance=n))
    return out


@st.composite
def _sick_leave(draw: st.DrawFn) -> list[Answer]:
    levels = draw(
        st.lists(
            st.sampled_from(["HELT_NEDSATT", "TRE_FJARDEDEL", "HALFTEN", "EN_FJARDEDEL"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    start = draw(past_dates)
    out = []
    for n, level in enumerate(levels, 1):
        end = start + timedelta(days=draw(st.integers(0, 60)))
        out.append(
            answer("32", cv("32.1", level, "KV_FKMU_0003"), period("32.2", start, end), instance=n)
        )
        start = end + timedelta(days=draw(st.integers(1, 10)))
    return out


@st.composite
def _lisjp_like(draw: st.DrawFn, cert_type: CertificateType) -> list[Answer]:
    """The answers of a valid FK7804 or AG7804 (they share most questions)."""
    ag = cert_type is CertificateType.AG7804
    carrier = draw(st.integers(0, 4)) == 0  # now and then a smittbärarpenning certificate
    answers: list[Answer] = []
    if carrier:
        answers.append(answer("27", part("27.1", "true")))
    if not carrier or draw(st.booleans()):
        answers += draw(_bases("1"))
        occupations = draw(
            st.lists(
                st.sampled_from(["NUVARANDE_ARBETE", "ARBETSSOKANDE", "FORALDRALEDIG", "STUDIER"]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        answers += [
            answer("28", cv("28.1", c, "KV_FKMU_0002"), instance=n)
            for n, c in enumerate(occupations, 1)
        ]
        if "NUVARANDE_ARBETE" in occupations:
            answers.append(answer("29", part("29.1", draw(texts))))
        answers.append(answer("35", part("35.1", draw(texts))))
        answers.append(answer("17", part("17.1", draw(texts))))
    share = draw(st.booleans()) if ag else True
    if ag:
        answers.append(
            answer(
                "100",
                part("100.1", draw(st.sampled_from(["true", "1"] if share else ["false", "0"]))),
            )
        )
    if share:
        system = draw(st.sampled_from([ICD10, KSH97P]))
        n_diag = draw(st.integers(1, 3))
        parts = []
        for k in range(n_diag):
            parts += [
                part(f"6.{2 * k + 1}", draw(texts)),
                cv(f"6.{2 * k + 2}", draw(diagnosis_codes), system),
            ]
        answers.append(answer("6", *parts))
    for qid in ("19", "20", "37", "25"):
        if draw(st.booleans()):
            answers.append(answer(qid, part(f"{qid}.1", draw(texts))))
    sick_leave = draw(_sick_leave())
    answers += sick_leave
    partial = any(
        isinstance(p.value, Code) and p.value.code != "HELT_NEDSATT"
        for a in sick_leave
        for p in a.parts
    )
    if partial and (not carrier or draw(st.booleans())):
        if draw(st.booleans()):
            answers.append(answer("33", part("33.1", "true"), part("33.2", draw(texts))))
        else:
            answers.append(answer("33", part("33.1", "false")))
    if draw(st.booleans()):
        answers.append(answer("34", part("34.1", draw(st.sampled_from(["true", "false"])))))
    if not carrier or draw(st.booleans()):
        prognosis = draw(
            st.sampled_from(
                ["STOR_SANNOLIKHET", "SANNOLIKT_INTE", "PROGNOS_OKLAR", "ATER_X_ANTAL_DGR"]
            )
        )
        parts = [cv("39.1", prognosis, "KV_FKMU_0006")]
        if prognosis == "ATER_X_ANTAL_DGR":
            parts.append(
                cv(
                    "39.3",
                    draw(
                        st.sampled_from(
                            [
                                "TRETTIO_DGR",
                                "SEXTIO_DGR",
                                "NITTIO_DGR",
                                "HUNDRAATTIO_DAGAR",
                                "TREHUNDRASEXTIOFEM_DAGAR",
                            ]
                        )
                    ),
                    "KV_FKMU_0007",
                )
            )
        answers.append(answer("39", *parts))
        measures = [
            "ARBETSTRANING",
            "ARBETSANPASSNING",
            "BESOK_ARBETSPLATS",
            "ERGONOMISK",
            "HJALPMEDEL",
            "KONTAKT_FHV",
            "OMFORDELNING",
            "OVRIGA_ATGARDER",
        ]
        if not ag:
            measures += ["SOKA_NYTT_ARBETE", "KONFLIKTHANTERING"]
        chosen = draw(
            st.one_of(
                st.just(["EJ_AKTUELLT"]),
                st.lists(
                    st.sampled_from(measures), min_size=1, max_size=len(measures), unique=True
                ),
            )
        )
        answers += [
            answer("40", cv("40.1", c, "KV_FKMU_0004"), instance=n) for n, c in enumerate(chosen, 1)
        ]
        if chosen != ["EJ_AKTUELLT"] and draw(st.booleans()):
            answers.append(answer("44", part("44.1", draw(texts))))
    contact = "103" if ag else "26"
    if draw(st.booleans()):
        wanted = draw(st.booleans())
        parts = [part(f"{contact}.1", "true" if wanted else "false")]
        if wanted and draw(st.booleans()):
            parts.append(part(f"{contact}.2", draw(texts)))
        answers.append(answer(contact, *parts))
    if not ag:
        for n in draw(st.lists(st.integers(9001, 9020), max_size=2, unique=True)):
            answers.append(answer(str(n), part(f"{n}.1", draw(texts))))
    return draw(st.permutations(answers))


@st.composite
def _ag114(draw: st.DrawFn) -> list[Answer]:
    share = draw(st.booleans())
    answers: list[Answer] = []
    if draw(st.booleans()):
        answers += draw(_bases("10"))
    answers += [
        answer("1", cv("1.1", "NUVARANDE_ARBETE", "KV_FKMU_0002")),
        answer("2", part("2.1", draw(texts))),
        answer("3", part("3.1", "true" if share else "false")),
    ]
    if share:
        system = draw(st.sampled_from([ICD10, KSH97P]))
        answers += [
            answer(
                "4", part("4.1", draw(texts)), cv("4.2", draw(diagnosis_codes), system), instance=n
            )
            for n in range(1, draw(st.integers(1, 3)) + 1)
        ]
    capacity = draw(st.booleans())
    start = draw(past_dates)
    answers += [
        answer("5", part("5.1", draw(texts))),
        answer(
            "6",
            part("6.1", "true" if capacity else "false"),
            *([part("6.2", draw(texts))] if capacity else []),
        ),
        answer(
            "7",
            part("7.1", Quantity(value=float(draw(st.integers(0, 100))), unit="%")),
            period("7.2", start, start + timedelta(days=draw(st.integers(0, 14)))),
        ),
    ]
    if draw(st.booleans()):
        answers.append(answer("8", part("8.1", draw(texts))))
    if draw(st.booleans()):
        answers.append(answer("9", part("9.1", "true"), part("9.2", draw(texts))))
    return answers


@st.composite
def certificates(
    draw: st.DrawFn, types: Sequence[CertificateType] = tuple(CertificateType)
) -> Certificate:
    """Valid certificates of the given types."""
    cert_type = draw(st.sampled_from(list(types)))
    if cert_type is CertificateType.AG1_14:
        answers = draw(_ag114())
    else:
        answers = draw(_lisjp_like(cert_type))
    return certificate(cert_type, answers, person_id=draw(person_ids()))


__all__ = [
    "ICD10",
    "KSH97P",
    "TOLVAN",
    "adding",
    "ag114",
    "ag7804",
    "answer",
    "certificate",
    "certificates",
    "cv",
    "edit_answers",
    "edit_part",
    "fk7804",
    "part",
    "period",
    "person_ids",
    "with_check_digit",
    "with_person",
    "without",
]
