"""Building blocks shared by every document kind.

Models hold what the sender sent, even when it is wrong (a bad check digit, a period that ends
before it starts): judging it is the validation layer's job, which reports every problem at once
with its location instead of failing on the first.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

#: Swedish local time: RIVTA's timestamps carry no offset and mean this zone, and a time sent
#: without an offset is read as one.
SWEDISH_TIME = ZoneInfo("Europe/Stockholm")


class Model(BaseModel):
    """Base of every canonical model: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentKind(StrEnum):
    CERTIFICATE = "certificate"
    SIP = "sip"
    RETURN_TO_WORK_PLAN = "return-to-work-plan"
    SECTION4_NOTIFICATION = "section4-notification"


class Recipient(StrEnum):
    """The audiences a document can be rendered for (CLI.md)."""

    FORSAKRINGSKASSAN = "forsakringskassan"
    EMPLOYER = "employer"
    REGION = "region"
    MUNICIPALITY = "municipality"
    ARBETSFORMEDLINGEN = "arbetsformedlingen"
    OCCUPATIONAL_HEALTH = "occupational-health"


class Identifier(Model):
    """An identifier in a system named by OID (RIVTA ``root``/``extension``)."""

    system: str
    value: str


class Code(Model):
    """A coded value (RIVTA CV, FHIR Coding)."""

    code: str
    system: str | None = None
    display: str | None = None


class Period(Model):
    start: date | None = None
    end: date | None = None


class PersonName(Model):
    given: str = ""
    family: str = ""
    middle: str | None = None


class Address(Model):
    street: str = ""
    postal_code: str = ""
    city: str = ""


class Contact(Model):
    """How to reach a person or a function."""

    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None
    address: Address | None = None


class Person(Model):
    """The patient / insured person / employee. ``id`` is a personnummer or samordningsnummer."""

    id: Identifier
    name: PersonName = PersonName()
    address: Address | None = None


class Organisation(Model):
    """An organisation: care unit or provider (HSA-id), employer (organisation number), a
    municipality, Försäkringskassan, Arbetsförmedlingen."""

    id: Identifier | None = None
    name: str
    contact: Contact | None = None


class ConsentMethod(StrEnum):
    ORAL = "oral"
    WRITTEN = "written"
    DIGITAL = "digital"


class ConsentStatus(StrEnum):
    """R4 consent-state-codes: only ``active`` authorises anything."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    INACTIVE = "inactive"
    ENTERED_IN_ERROR = "entered-in-error"


class ConsentPolicyRule(StrEnum):
    """The consent directive (HL7 v3 ActCode, R4 ``Consent.policyRule``): opt-in, with or
    without restrictions, authorises; opt-out, with or without exceptions, never does."""

    OPT_IN = "OPTIN"
    OPT_IN_RESTRICTED = "OPTINR"
    OPT_OUT = "OPTOUT"
    OPT_OUT_EXCEPTIONS = "OPTOUTE"


class ProvisionType(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class ConsentScope(Model):
    """What the consent is about: a document kind, and one document where it names one."""

    kind: DocumentKind
    document_id: str | None = None


class ConsentProvision(Model):
    """A nested rule of the consent (R4 ``provision.provision`` at any depth, in document
    order): a deny that applies to the transfer refuses it; an empty list or period applies to
    every recipient, purpose or time. What limits a rule besides its recipients, purposes and
    period is kept too, so that the one reading (``gateway.documents.consent``) can act on it:
    a deny it cannot exclude by them applies (deny wins when in doubt)."""

    type: ProvisionType
    start: datetime | None = None
    end: datetime | None = None
    recipients: list[Recipient] = []
    purposes: list[Code] = []
    #: recipient organisations by identifier (organisation number, HSA-id)
    organisations: list[Identifier] = []
    #: what the rule is about doing (R4 consent-action: collect, access, use, disclose, correct)
    actions: list[Code] = []
    #: the rule covers data from this time on (R4 ``dataPeriod.start``) ...
    data_from: datetime | None = None
    #: ... until this time (``dataPeriod.end``)
    data_to: datetime | None = None
    #: the rule covers only data carrying these codes (R4 ``provision.code``)
    codes: list[Code] = []
    #: the rule covers only data with these security labels (R4 ``provision.securityLabel``)
    security_labels: list[Code] = []
    #: elements the sender wrote that limit the rule and that the gateway does not understand
    #: (their FHIR names): a consent never authorises past them
    not_understood: list[str] = []


class Consent(Model):
    """The patient's consent to one transfer (seed 003: one consent per transfer; the record
    states the date, how it was obtained and what it covers). Read by one function,
    ``gateway.documents.consent.evaluate_consents``, for validation, policy, the command
    line and the server alike; every element that can limit a disclosure is kept here."""

    id: str
    status: ConsentStatus
    scope: ConsentScope
    #: whom the record is about, when it says so apart from the document (FHIR Consent.patient)
    patient: Identifier | None = None
    given_by: Identifier
    given_at: datetime
    method: ConsentMethod
    policy_rule: ConsentPolicyRule = ConsentPolicyRule.OPT_IN
    type: ProvisionType = ProvisionType.PERMIT  # the base provision
    #: the audiences it names; an employer is covered only by its organisation (organisations)
    recipients: list[Recipient] = []
    #: codes of the declared purpose code system (mappings/consent.toml); text never authorises
    purposes: list[Code] = Field(min_length=1)
    recorded_by: Identifier | None = None
    valid_from: datetime | None = None  # provision.period.start
    withdrawn_at: datetime | None = None  # provision.period.end
    provisions: list[ConsentProvision] = []
    #: recipient organisations it names, by organisation number or HSA-id (FHIR
    #: provision.actor, an Organization by identifier): consent is to a named recipient
    organisations: list[Identifier] = []
    #: what it allows doing (R4 consent-action); empty: disclosure, what the gateway does
    actions: list[Code] = []
    #: it covers data from this time on (R4 ``provision.dataPeriod``) ...
    data_from: datetime | None = None
    #: ... until this time
    data_to: datetime | None = None
    #: it covers only data carrying these codes (R4 ``provision.code``)
    codes: list[Code] = []
    #: it covers only data with these security labels (R4 ``provision.securityLabel``)
    security_labels: list[Code] = []
    #: its scope when it is not a privacy consent (R4 ``Consent.scope``: research, treatment,
    #: adr); ``None``: patient privacy, the only scope that authorises a disclosure
    consent_scope: Code | None = None
    #: its categories other than a privacy consent's (R4 ``Consent.category``)
    categories: list[Code] = []
    #: what the record says of its verification (R4 ``verification.verified``); ``None``: silent
    verified: bool | None = None
    #: elements the sender wrote that limit it and that the gateway does not understand
    #: (their FHIR names, e.g. ``policy``, ``modifierExtension``): it never authorises past them
    not_understood: list[str] = []


class CareUnit(Model):
    """A healthcare unit (vårdenhet) with its care provider (vårdgivare), both by HSA-id."""

    id: Identifier
    name: str
    workplace_code: Identifier | None = None  # arbetsplatskod, OID 1.2.752.29.4.71
    address: Address = Address()
    phone: str = ""
    email: str | None = None
    care_provider: Organisation


class HealthcareProfessional(Model):
    """A member of healthcare staff (RIVTA HosPersonal) identified by HSA-id."""

    id: Identifier
    name: str = ""
    prescriber_code: str | None = None  # förskrivarkod
    positions: list[Code] = []  # befattning
    specialities: list[Code] = []  # specialistkompetens
    licensed_professions: list[Code] = []  # legitimeratYrke (ns 3.2)
    unit: CareUnit
