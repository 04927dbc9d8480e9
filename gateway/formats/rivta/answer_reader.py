"""Reading ``svar``/``delsvar`` (the bulk of a certificate) and locating model paths in them.

Answers are most of a certificate's elements, so they are read with the least work per
element: values become model instances directly (codes from a small process-wide cache, as a
certificate repeats the same few code-system values), and instead of one source-map entry per
element the reader keeps each answer's ``svar`` and its ``delsvar`` elements and
:class:`AnswerLocator` works out deeper paths only when a rule asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from lxml import etree

from gateway.documents.certificate import Quantity, SubAnswer
from gateway.documents.common import Code, Period
from gateway.documents.issues import RULES, ModelPath, RuleKind, issue
from gateway.formats.rivta.namespaces import (
    DELSVAR,
    INSTANS,
    T_CODE,
    T_CODE_SYSTEM,
    T_CV,
    T_DATE_PERIOD,
    T_DISPLAY,
    T_END,
    T_PQ,
    T_START,
    T_UNIT,
    T_VALUE,
)
from gateway.formats.rivta.reading import Reader, local, text
from gateway.formats.xmlsafe import element_location, tag_of

VALUE_UNSUPPORTED = RULES.define(
    "CERT-VALUE-UNSUPPORTED",
    "Answer value of a kind the gateway does not carry",
    RuleKind.SCHEMA,
    "A `delsvar` holds either text or exactly one value element: `cv` (a code), `datePeriod` "
    "or `pq` (a quantity). Other value kinds (ii, partialDate, timePeriod, pqInterval, date, "
    "timestamp), several value elements, or text mixed with an element cannot be converted; "
    "the sub-answer is left out.",
)

#: Model field -> local name of the element it is read from, inside a value element.
_VALUE_FIELDS = {
    "code": "code",
    "system": "codeSystem",
    "display": "displayName",
    "start": "start",
    "end": "end",
    "value": "value",
    "unit": "unit",
}


@lru_cache(maxsize=4096)
def _code(code: str, system: str | None, display: str | None) -> Code:
    # Code is frozen, so equal codes can share one instance.
    return Code(code=code, system=system, display=display)


def _code_part(part_id: str, value: Code) -> SubAnswer:
    # keyed by the strings: hashing the Code (a pydantic model) costs more than the lookup
    return _coded_part(part_id, value.code, value.system, value.display)


@lru_cache(maxsize=4096)
def _coded_part(part_id: str, code: str, system: str | None, display: str | None) -> SubAnswer:
    # coded sub-answers repeat across certificates (32.1 HELT_NEDSATT, 40.1 ...): share them
    return SubAnswer(id=part_id, value=_code(code, system, display))


class AnswerReader(Reader):
    __slots__ = ("answer_elements",)

    def __init__(self) -> None:
        super().__init__()
        #: Per answer read: its svar element and the delsvar element of each part.
        self.answer_elements: list[tuple[etree._Element, list[etree._Element]]] = []

    def svar(self, el: etree._Element) -> dict[str, Any] | None:
        answer_id = el.get("id")
        if answer_id is None:  # the schema reports the missing id
            return None
        instance: int | None = None
        parts: list[dict[str, Any] | SubAnswer] = []
        part_elements: list[etree._Element] = []
        for child in el:
            tag = tag_of(child)
            if tag == DELSVAR:
                part_id = child.get("id")
                if part_id is None:
                    continue
                if len(child) == 0:  # the common case: text only
                    parts.append({"id": part_id, "value": child.text or ""})
                    part_elements.append(child)
                    continue
                value = self._value(child, part_id)
                if value is not None:
                    parts.append(
                        _code_part(part_id, value)
                        if type(value) is Code
                        else {"id": part_id, "value": value}
                    )
                    part_elements.append(child)
            elif tag == INSTANS:
                try:
                    instance = int(text(child))
                except ValueError:
                    self.unreadable(child, "a whole number")
            elif isinstance(tag, str):
                self.not_carried(child, "svar")
        self.answer_elements.append((el, part_elements))
        return {"id": answer_id, "instance": instance, "parts": parts}

    def _value(self, el: etree._Element, part_id: str) -> str | Code | Period | Quantity | None:
        if len(el) == 1:  # the common case: one value element, whitespace around it
            value_el = el[0]
            tag = tag_of(value_el)
            lead, tail = el.text, value_el.tail
            if (lead is None or lead.isspace()) and (tail is None or tail.isspace()):
                if tag == T_CV:
                    return self._cv_value(value_el)
                if tag == T_DATE_PERIOD:
                    return self._period(value_el)
        return self._any_value(el, part_id)

    def _any_value(self, el: etree._Element, part_id: str) -> str | Code | Period | Quantity | None:
        """A delsvar's value, whatever the delsvar holds (the rare cases: comments, several
        elements, text beside an element, a pq or a kind the gateway does not carry)."""
        values = [c for c in el if isinstance(c.tag, str)]
        if not values:  # text around comments
            return text(el)
        loose_text = (el.text or "").strip() or any((c.tail or "").strip() for c in el)
        if len(values) > 1 or loose_text:
            what = "several value elements" if len(values) > 1 else "text and an element"
            self.issues.append(
                issue(
                    VALUE_UNSUPPORTED,
                    f"delsvar {part_id} holds {what}; it must hold text or exactly one value "
                    "element",
                    element_location(el),
                )
            )
            return None
        value_el = values[0]
        tag = tag_of(value_el)
        if tag == T_CV:
            return self._cv_value(value_el)
        if tag == T_DATE_PERIOD:
            return self._period(value_el)
        if tag == T_PQ:
            return self._quantity(value_el)
        self.issues.append(
            issue(
                VALUE_UNSUPPORTED,
                f"delsvar {part_id} holds <{local(value_el)}>; the gateway carries text, cv, "
                "datePeriod and pq values",
                element_location(value_el),
            )
        )
        return None

    def _cv_value(self, el: etree._Element) -> Code:
        kids = list(el)
        n = len(kids)
        if 2 <= n <= 3:  # fast path: code, codeSystem[, displayName], plain text in each
            first, second, third = kids[0], kids[1], kids[2] if n == 3 else None
            if (
                tag_of(first) == T_CODE
                and tag_of(second) == T_CODE_SYSTEM
                and (third is None or tag_of(third) == T_DISPLAY)
                and not (len(first) or len(second) or (third is not None and len(third)))
            ):
                display = None if third is None else third.text or ""
                return _code(first.text or "", second.text or "", display)
        return self._cv_slow(el)

    def _cv_slow(self, el: etree._Element) -> Code:
        code = ""
        system: str | None = None
        display: str | None = None
        for child in el:
            tag = tag_of(child)
            if tag == T_CODE:
                code = text(child)
            elif tag == T_CODE_SYSTEM:
                system = text(child)
            elif tag == T_DISPLAY:
                display = text(child)
            elif isinstance(tag, str):
                self.not_carried(child, "a code")
        return _code(code, system, display)

    def _period(self, el: etree._Element) -> Period:
        start = end = None
        for child in el:
            tag = tag_of(child)
            if tag == T_START:
                start = self.date(child)
            elif tag == T_END:
                end = self.date(child)
            elif isinstance(tag, str):
                self.not_carried(child, "datePeriod")
        return Period(start=start, end=end)

    def _quantity(self, el: etree._Element) -> Quantity | None:
        value: float | None = None
        unit = ""
        for child in el:
            tag = tag_of(child)
            if tag == T_VALUE:
                try:
                    value = float(text(child))
                except ValueError:
                    self.unreadable(child, "a number")
            elif tag == T_UNIT:
                unit = text(child)
        return None if value is None else Quantity(value=value, unit=unit)


class AnswerLocator:
    """Finds the element of a path under ``("answers", i, ...)`` from what the reader kept."""

    __slots__ = ("answers",)

    def __init__(self, answers: list[tuple[etree._Element, list[etree._Element]]]) -> None:
        self.answers = answers

    def element(self, path: ModelPath) -> etree._Element | None:
        if len(path) < 2 or path[0] != "answers":
            return None
        index = path[1]
        if not isinstance(index, int) or not 0 <= index < len(self.answers):
            return None
        svar, parts = self.answers[index]
        if len(path) == 2:
            return svar
        if path[2] == "instance":
            return next((c for c in svar if tag_of(c) == INSTANS), svar)
        if path[2] != "parts" or len(path) == 3:
            return svar
        part = path[3]
        if not isinstance(part, int) or not 0 <= part < len(parts):
            return svar
        return _in_delsvar(parts[part], path[4:])

    def paths(self) -> Iterator[ModelPath]:
        for i, (svar, parts) in enumerate(self.answers):
            yield ("answers", i)
            if any(tag_of(c) == INSTANS for c in svar):
                yield ("answers", i, "instance")
            for j, delsvar in enumerate(parts):
                yield ("answers", i, "parts", j)
                yield ("answers", i, "parts", j, "value")
                value = next((c for c in delsvar if isinstance(c.tag, str)), None)
                if value is not None:
                    inverse = {v: k for k, v in _VALUE_FIELDS.items()}
                    for c in value:
                        if isinstance(c.tag, str) and local(c) in inverse:
                            yield ("answers", i, "parts", j, "value", inverse[local(c)])


def _in_delsvar(delsvar: etree._Element, rest: ModelPath) -> etree._Element:
    """The element of a path below a part: the delsvar, its value element, or the value's
    child a field is read from (``("value", "code")``)."""
    if not rest or rest[0] != "value":
        return delsvar
    value = next((c for c in delsvar if isinstance(c.tag, str)), delsvar)
    if len(rest) == 1 or value is delsvar:
        return value
    name = _VALUE_FIELDS.get(str(rest[1]))
    return next((c for c in value if isinstance(c.tag, str) and local(c) == name), value)
