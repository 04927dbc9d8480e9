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
    every recipient, purpose or time."""

    type: ProvisionType
    start: datetime | None = None
    end: datetime | None = None
    recipients: list[Recipient] = []
    purposes: list[Code] = []


class Consent(Model):
    """The patient's consent to one transfer (seed 003: one consent per transfer; the record
    states the date, how it was obtained and what it covers). Read by one function,
    ``gateway.documents.consent.consent_problems``, for validation and policy alike."""

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
    recipients: list[Recipient] = Field(min_length=1)
    #: codes of the declared purpose code system (mappings/consent.toml); text never authorises
    purposes: list[Code] = Field(min_length=1)
    recorded_by: Identifier | None = None
    valid_from: datetime | None = None  # provision.period.start
    withdrawn_at: datetime | None = None  # provision.period.end
    provisions: list[ConsentProvision] = []


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
