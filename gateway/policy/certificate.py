"""The certificate part of the Content Filter: answers keyed by Inera question ids.

Per certificate type the policy names the questions and parts that pass (data); code does
what data cannot: withholding diagnosis parts and diagnostic codes wherever they sit,
recording the patient's wish to share the diagnosis, and scanning text answers.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.documents.certificate import Answer, Certificate, Quantity, SubAnswer
from gateway.documents.common import Code
from gateway.documents.issues import RULES, Rule, RuleKind
from gateway.policy.diagnosis import DIAGNOSIS_WITHHELD, canonical_system, catalogue
from gateway.policy.free_text import FREE_TEXT_WITHHELD, OwnDiagnoses, scan
from gateway.policy.policies import AnswerAllowList, text_part_ids
from gateway.policy.repertoire import Repertoire
from gateway.policy.report import Action, ReportEntry
from gateway.policy.texts import Verdict, text_verdict

NOT_ALLOWED = RULES.define(
    "POLICY-NOT-ALLOWED",
    "Field not on the recipient's allow-list",
    RuleKind.POLICY,
    "A recipient receives only the fields its policy names (mappings/policy/"
    "<recipient>.<kind>.toml); everything else is dropped: unknown extensions, contained "
    "resources, fields of a newer format version, and for an employer everything outside "
    "AG7804's field set (an FK7804's contact with Försäkringskassan, svar 26, its 9xxx "
    "questions, measures outside the AG subset).",
    source="docs/policy.md",
)

TEXT_NOT_FOR_RECIPIENT = RULES.define(
    "POLICY-TEXT-NOT-FOR-RECIPIENT",
    "Free text not written for this recipient withheld",
    RuleKind.POLICY,
    "An employer receives only the free text written for it: each employer route lists those "
    "fields (`text` in mappings/policy/employer.<kind>.toml: an AG7804's description of work "
    "capacity, a return-to-work plan's measures, a SIP's goals and efforts). Every other "
    "free-text field is withheld whatever it holds (an AG7804's treatments, 19.1 and 20.1, "
    "and 'övriga upplysningar', 25.1; a SIP's notes), so that no wording of a diagnosis can "
    "ride along in it. The report names the field, never the text.",
    source="docs/policy.md; issue 9",
)
CODE_SYSTEM_NOT_ALLOWED = RULES.define(
    "POLICY-CODE-SYSTEM-NOT-ALLOWED",
    "Code from a code system the recipient does not receive withheld",
    RuleKind.POLICY,
    "An employer route lists the code systems whose codes pass (`code_systems` in "
    "mappings/policy/employer.<kind>.toml); a code of any other system is withheld (default "
    "deny), after every spelling of the system was normalised (urn:oid:, http or https, "
    "trailing slash, case, SNOMED CT module URIs, WHO ICD-11 entity URIs, "
    "'.../CodeSystem/ICD-10-SE', the aliases of mappings/fhir-systems.toml). An issuer's "
    "specialist competence, for instance, is not passed on: psychiatry or oncology tells the "
    "kind of illness.",
    source="docs/policy.md; issue 9",
)

VALUE_NOT_BOUNDED = RULES.define(
    "POLICY-VALUE-NOT-BOUNDED",
    "A value no recipient could read withheld",
    RuleKind.POLICY,
    "Every value an employer receives is either scanned (text) or bounded by what its field "
    "means: a quantity's unit must be one the route declares (AG1-14 7.1: `%`) and its value "
    "within the question's bounds (0-100, whole), an answer's instance a small ordinal (1 up "
    "to the number of answers to that question). A unit is text nobody scans and an integer "
    "can carry any number (a SNOMED CT id), so anything else is withheld: the part, or the "
    "answer whose instance it is.",
    source="issue 15; docs/policy.md",
)

_TRUE = ("true", "1")


def _answer_label(answer: Answer) -> str:
    """``answers[id=6]``, ``answers[id=40,instance=2]``: Inera's ids, readable in any format."""
    if answer.instance is None:
        return f"answers[id={answer.id}]"
    return f"answers[id={answer.id},instance={answer.instance}]"


class AnswerFilter:
    """Filters one certificate's answers for one policy; collects report entries."""

    def __init__(
        self,
        certificate: Certificate,
        allow: AnswerAllowList,
        *,
        no_diagnosis: bool,
        own: OwnDiagnoses,
        code_systems: frozenset[str] | None,
        report: list[ReportEntry],
        repertoire: Repertoire | None = None,
    ) -> None:
        cat = catalogue()
        self.allow = allow
        self.no_diagnosis = no_diagnosis
        self.own = own
        self.code_systems = code_systems
        self.text_parts = text_part_ids(certificate.type)
        #: no text of the answers names a diagnosis (one scan of them all, see answers())
        self.clean = False
        self.report = report
        self.diagnosis_parts = cat.parts_of(certificate.type)
        self.wish_parts = cat.share_wish_parts.get(certificate.type, frozenset())
        self.is_diagnostic: Callable[[Code], bool] = cat.is_diagnostic
        self.type = certificate.type
        self.repertoire = repertoire
        #: how many answers each question has: the bound of an instance
        self.counts: dict[str, int] = {}
        for a in certificate.answers:
            self.counts[a.id] = self.counts.get(a.id, 0) + 1

    def _entry(
        self,
        action: Action,
        rule: Rule,
        at: tuple[int, Answer, int | None, SubAnswer | None],
        message: str,
    ) -> None:
        # paths and labels are built only for what is reported: most parts pass untouched
        i, answer, j, part = at
        label = _answer_label(answer)
        path: tuple[str | int, ...] = ("answers", i)
        if part is not None and j is not None:
            label, path = f"{label}.parts[id={part.id}]", (*path, "parts", j)
        self.report.append(ReportEntry(action, label, rule.code, message, path))

    def answers(self, answers: list[Answer]) -> list[Answer]:
        if self.no_diagnosis:
            self.clean = self._all_clean(answers)
        out: list[Answer] = []
        for i, answer in enumerate(answers):
            kept = self.answer(i, answer)
            if kept is not None:
                out.append(kept)
        return out

    def answer(self, i: int, answer: Answer) -> Answer | None:
        at = (i, answer, None, None)
        if self.no_diagnosis and answer.parts and all(self._diagnostic(p) for p in answer.parts):
            self._entry(
                Action.REMOVED,
                DIAGNOSIS_WITHHELD,
                at,
                f"svar {answer.id} holds the diagnosis, which no employer receives",
            )
            return None
        if (
            self.no_diagnosis
            and answer.instance is not None
            and not (1 <= answer.instance <= self.counts.get(answer.id, 0))
        ):
            self._entry(
                Action.REMOVED,
                VALUE_NOT_BOUNDED,
                at,
                f"svar {answer.id} has an instance that is no ordinal of its answers",
            )
            return None
        if not self.allow.allows_question(answer.id):
            self._entry(
                Action.REMOVED,
                NOT_ALLOWED,
                at,
                f"svar {answer.id} is not among the questions this recipient receives "
                f"of a {self.type}",
            )
            return None
        parts: list[SubAnswer] = []
        changed = False
        for j, part in enumerate(answer.parts):
            kept = self.part((i, answer, j, part))
            changed = changed or kept is not part
            if kept is not None:
                parts.append(kept)
        if not changed:
            return answer
        return answer.model_copy(update={"parts": parts}) if parts else None

    def _all_clean(self, answers: list[Answer]) -> bool:
        """One look at every text the answers may pass (not the diagnosis parts, which name
        it by definition, nor what is removed unread): the common certificate names no
        diagnosis elsewhere, and one scan of all its texts costs a fraction of one per part."""
        texts: list[str] = []
        codes: list[str] = []
        allow = self.allow
        for answer in answers:
            if not allow.allows_question(answer.id):
                continue  # removed whatever it holds
            for part in answer.parts:
                if part.id in self.diagnosis_parts or not allow.allows_part(answer.id, part.id):
                    continue
                if part.id in self.text_parts and not allow.allows_text(part.id):
                    continue  # free text not written for this recipient: removed unread
                value = part.value
                if isinstance(value, str):
                    texts.append(value)
                elif isinstance(value, Code):
                    codes.append(value.code)
                    if value.display:
                        texts.append(value.display)
        joined, coded = "\n\n".join(texts), "\n\n".join(codes)
        rep = self.repertoire
        if rep is not None and (rep.problem(joined) is not None or rep.problem(coded) is not None):
            return False
        return scan(joined, self.own) is None and scan(coded, self.own, identifier=True) is None

    def _diagnostic(self, part: SubAnswer) -> bool:
        return part.id in self.diagnosis_parts or (
            isinstance(part.value, Code) and self.is_diagnostic(part.value)
        )

    def part(self, at: tuple[int, Answer, int, SubAnswer]) -> SubAnswer | None:
        _, answer, _, part = at
        if self.no_diagnosis and self._diagnostic(part):
            self._entry(
                Action.REMOVED,
                DIAGNOSIS_WITHHELD,
                at,
                f"delsvar {part.id} is diagnosis data, which no employer receives",
            )
            return None
        if not self.allow.allows_part(answer.id, part.id):
            self._entry(
                Action.REMOVED,
                NOT_ALLOWED,
                at,
                f"delsvar {part.id} is not among the parts this recipient receives "
                f"of a {self.type}",
            )
            return None
        codes = self.allow.codes.get(part.id)
        if codes is not None and isinstance(part.value, Code) and part.value.code not in codes:
            self._entry(
                Action.REMOVED,
                NOT_ALLOWED,
                at,
                f"{part.value.code} in delsvar {part.id} is not among the codes this "
                f"recipient receives of a {self.type}",
            )
            return None
        if not self.no_diagnosis:
            return part
        if part.id in self.wish_parts:
            return self._wish(at)
        return self._scan(at)

    def _wish(self, at: tuple[int, Answer, int, SubAnswer]) -> SubAnswer:
        """The employer's copy says false, whatever was sent: yes is recorded, anything but
        a boolean (text planted in a yes/no field) is not passed on either."""
        part = at[3]
        sent = part.value.strip().lower() if isinstance(part.value, str) else None
        if sent in _TRUE:
            self._entry(
                Action.RECORDED,
                DIAGNOSIS_WITHHELD,
                at,
                f"the patient asked for the diagnosis to be passed on (delsvar "
                f"{part.id} = {sent}); the gateway never sends diagnosis "
                "data to an employer, so the employer's copy says false",
            )
        elif sent not in ("false", "0"):
            self._entry(
                Action.REMOVED,
                FREE_TEXT_WITHHELD,
                at,
                f"delsvar {part.id} is a yes/no answer and held something else; the employer's "
                "copy says false",
            )
        return part if part.value == "false" else part.model_copy(update={"value": "false"})

    def _scan(self, at: tuple[int, Answer, int, SubAnswer]) -> SubAnswer | None:
        part = at[3]
        value = part.value
        verdict: Verdict | None = None
        if isinstance(value, str):
            if part.id in self.text_parts and not self.allow.allows_text(part.id):
                self._entry(
                    Action.REMOVED,
                    TEXT_NOT_FOR_RECIPIENT,
                    at,
                    f"delsvar {part.id} is free text not written for this recipient of a "
                    f"{self.type}; withheld whatever it holds",
                )
                return None
            if not self.clean:
                verdict = text_verdict(value, self.own, self.repertoire)
        elif isinstance(value, Code):
            return self._code(at, value)
        elif isinstance(value, Quantity):
            return self._quantity(at, value)
        else:
            return part
        if verdict is None:
            return part
        rule, reason = verdict
        self._entry(Action.REMOVED, rule, at, f"delsvar {part.id} {reason} and was withheld whole")
        return None

    def _code(self, at: tuple[int, Answer, int, SubAnswer], value: Code) -> SubAnswer | None:
        part = at[3]
        system = value.system
        if (
            system is not None
            and self.code_systems is not None
            and canonical_system(system) not in self.code_systems
        ):
            self._entry(
                Action.REMOVED,
                CODE_SYSTEM_NOT_ALLOWED,
                at,
                f"delsvar {part.id} holds a code of a system this recipient does not receive",
            )
            return None
        if self.clean:
            return part
        verdict = text_verdict(value.code, self.own, self.repertoire, identifier=True)
        if verdict is not None:
            rule, reason = verdict
            self._entry(
                Action.REMOVED, rule, at, f"delsvar {part.id} {reason} and was withheld whole"
            )
            return None
        if value.display and text_verdict(value.display, self.own, self.repertoire) is not None:
            self._entry(
                Action.REMOVED,
                FREE_TEXT_WITHHELD,
                at,
                f"the display of delsvar {part.id}'s code was withheld",
            )
            return part.model_copy(update={"value": value.model_copy(update={"display": None})})
        return part

    def _quantity(
        self, at: tuple[int, Answer, int, SubAnswer], value: Quantity
    ) -> SubAnswer | None:
        part = at[3]
        bounds = self.allow.quantities.get(part.id)
        why = (
            "no declared unit or bounds"
            if bounds is None
            else bounds.problem(value.value, value.unit)
        )
        if why is None:
            return part
        self._entry(
            Action.REMOVED,
            VALUE_NOT_BOUNDED,
            at,
            f"delsvar {part.id} holds {why}; withheld",
        )
        return None
