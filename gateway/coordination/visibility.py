"""Who sees what of the plan index, its deadlines and its flags.

The rules are data (``mappings/coordination/visibility.toml``, explained there and in
docs/coordination.md "Who sees what"); the route policies of ``mappings/policy/`` are the
upper bound (a role sees no kind it could never receive), and consent is read by the ONE
consent evaluator (``gateway.documents.consent.evaluate_consents``, which validation and the
policy step ask too), called through :func:`consent_allows` only, so that how consent is read
changes in one place. Consent is to a named recipient: an actor sees a document that needs
consent only when one of the consents offered with it names the actor's organisation where
its route requires that (an employer's), and none of them says no. Deny wins: an entry is
shown only when every rule says yes. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.coordination.chain import Deadline
from gateway.coordination.entries import Entry
from gateway.coordination.flags import Flag
from gateway.coordination.settings import RoleView, role_views
from gateway.documents import DocumentKind, Recipient
from gateway.documents.common import Consent, Identifier
from gateway.documents.consent import Disclosure, evaluate_consents
from gateway.documents.identity import PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID
from gateway.policy.policies import Policy, policy_for


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated caller as coordination knows it: its id, and the role and
    organisation it acts for (``None``: a sender with neither sees only what it sent)."""

    id: str
    role: Recipient | None = None
    org: str | None = None


def patient_identifier(key: str) -> Identifier:
    """The identifier a patient key stands for (a samordningsnummer has day + 60)."""
    system = SAMORDNINGSNUMMER_OID if len(key) == 12 and key[6] in "6789" else PERSONNUMMER_OID
    return Identifier(system=system, value=key)


def consent_allows(
    consents: Sequence[Consent], *, actor: Actor, entry: Entry, policy: Policy, at: datetime
) -> bool:
    """THE consent seam of coordination: do the ``consents`` offered with ``entry``'s
    document let ``actor`` see it at ``at``, on the route ``policy`` (the actor's role's for
    that kind: its purposes, and whether the consent must name the actor's organisation)?
    Asks the one evaluator, as the transfer did; a no in any consent wins."""
    if not consents or actor.role is None:
        return False
    if policy.consent_names_organisation and actor.org is None:
        return False  # consent is to a named organisation, and this actor names none
    decision = evaluate_consents(
        consents,
        Disclosure(
            kind=entry.kind,
            at=at,
            document_id=entry.document_id,
            patient=patient_identifier(entry.patient),
            document_time=entry.document_time,
            recipient=actor.role,
            purposes=policy.purposes,
            organisation=actor.org,
            named_organisation=policy.consent_names_organisation,
        ),
    )
    return decision.allowed


class Viewer:
    """One actor's view of one patient's index at one time: decides entry by entry, and
    remembers its decisions (deadlines and flags ask about the same entries again)."""

    def __init__(self, actor: Actor, entries: Iterable[Entry], at: datetime) -> None:
        self.actor = actor
        self.at = at
        self.entries = {e.key: e for e in entries}
        self.rules: RoleView | None = role_views().get(actor.role) if actor.role else None
        self._seen: dict[str, bool] = {}
        self.related = any(self.own(e) or self.addressed(e) for e in self.entries.values())

    def own(self, e: Entry) -> bool:
        a = self.actor
        return e.sender == a.id or (a.org is not None and a.org in e.owners)

    def addressed(self, e: Entry) -> bool:
        return e.addressed_to(self.actor.id, self.actor.org)

    def sees(self, key: str) -> bool:
        found = self._seen.get(key)
        if found is None:
            e = self.entries.get(key)
            found = self._seen[key] = e is not None and self._decide(e)
        return found

    def _decide(self, e: Entry) -> bool:
        rules = self.rules
        if rules is None:
            return e.sender == self.actor.id
        if e.kind not in rules.kinds:
            return False
        if self.own(e):
            return True
        if e.kind in rules.own_only:
            return False
        if rules.scope == "addressed" and not self.addressed(e):
            return False
        if rules.scope == "patient" and not self.related:
            return False
        policy = policy_for(e.kind, rules.role)
        if policy is None:
            return False
        if not policy.consent_required:
            return True
        return consent_allows(e.consents, actor=self.actor, entry=e, policy=policy, at=self.at)

    def show(self, e: Entry) -> dict[str, Any]:
        """The entry as this actor is shown it: ids and facts its role may see."""
        out = _public(e)
        fields = self.rules.fields.get(e.kind) if self.rules else None
        if fields is not None and not self.own(e):
            out["facts"] = {k: v for k, v in e.facts.items() if k in fields}
            if "status" not in fields:
                out.pop("status")
        return out

    def visible_entries(self) -> list[Entry]:
        return [e for k, e in self.entries.items() if self.sees(k)]

    def sees_deadline(self, d: Deadline) -> bool:
        if not d.basis:
            return self.actor.role is not None and d.role == self.actor.role
        return all(self.sees(k) for k in d.basis if k in self.entries) and any(
            self.sees(k) for k in d.basis
        )

    def sees_flag(self, f: Flag) -> bool:
        rules = self.rules
        if rules is None or rules.flags == "none":
            return False
        if not all(self.sees(k) for k in f.entries):
            return False
        if rules.flags == "all":
            return True
        # "own-plan": only about the actor's own plan
        return any(
            (e := self.entries.get(k)) is not None
            and e.kind is DocumentKind.RETURN_TO_WORK_PLAN
            and self.own(e)
            for k in f.entries
        )


def _public(e: Entry) -> dict[str, Any]:
    return {
        "entry": e.key,
        "kind": str(e.kind),
        "id": e.document_id,
        "version": e.version,
        "status": e.status,
        "received_at": e.received_at.isoformat(),
        "sender": e.sender,
        "facts": dict(e.facts),
    }


def view(
    actor: Actor,
    entries: Sequence[Entry],
    flags: Sequence[Flag],
    deadlines: Sequence[Deadline],
    at: datetime,
) -> tuple[list[dict[str, Any]], list[Flag], list[Deadline]]:
    """What ``actor`` is shown of one patient: entries, flags, deadlines."""
    v = Viewer(actor, entries, at)
    shown = [v.show(e) for e in v.visible_entries()]
    return shown, [f for f in flags if v.sees_flag(f)], [d for d in deadlines if v.sees_deadline(d)]


def shown_ids(
    entries: Sequence[Mapping[str, Any]], flags: Sequence[Flag], deadlines: Sequence[Deadline]
) -> dict[str, list[str]]:
    """What was shown, ids only (for the audit trail)."""
    return {
        "entries": [e["entry"] for e in entries],
        "flags": [f.id for f in flags],
        "deadlines": [d.id for d in deadlines],
    }


__all__ = ["Actor", "Viewer", "consent_allows", "patient_identifier", "shown_ids", "view"]
