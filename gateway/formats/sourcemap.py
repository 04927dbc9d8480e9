"""A source map that remembers elements and works out readable locations only when asked.

Parsing records one element per model path (or a locator that finds it); most documents
produce no finding at all, so building location strings up front would be wasted work on the
hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from lxml import etree

from gateway.documents.issues import Location, ModelPath, SourceMap
from gateway.formats.xmlsafe import element_location


class Locator(Protocol):
    """Finds the element of a model path it knows about (None otherwise)."""

    def element(self, path: ModelPath) -> etree._Element | None: ...

    def paths(self) -> Iterator[ModelPath]: ...


class ElementSourceMap(SourceMap):
    """``locate`` resolves through the recorded elements and locators, caching the result.
    Code that reads ``locations`` directly should call :meth:`materialise` first.
    ``describe`` says where an element is (default: :func:`element_location`)."""

    def __init__(
        self,
        elements: dict[ModelPath, etree._Element] | None = None,
        locators: Sequence[Locator] = (),
        describe: Callable[[etree._Element], Location] = element_location,
    ) -> None:
        super().__init__()
        self.elements: dict[ModelPath, etree._Element] = elements if elements is not None else {}
        self.locators = locators
        self.describe = describe

    def add_element(self, path: ModelPath, element: etree._Element) -> None:
        self.elements[path] = element

    def _element(self, path: ModelPath) -> etree._Element | None:
        element = self.elements.get(path)
        if element is None:
            for locator in self.locators:
                element = locator.element(path)
                if element is not None:
                    break
        return element

    def locate(self, path: ModelPath) -> Location:
        for n in range(len(path), -1, -1):
            prefix = path[:n]
            found = self.locations.get(prefix)
            if found is not None:
                return found
            element = self._element(prefix)
            if element is not None:
                found = self.locations[prefix] = self.describe(element)
                return found
        return Location(path=".".join(str(p) for p in path))

    def materialise(self) -> dict[ModelPath, Location]:
        """Every known path with its location (tooling, tests)."""
        paths: Iterable[ModelPath] = list(self.elements)
        for locator in self.locators:
            paths = [*paths, *locator.paths()]
        for path in paths:
            if path not in self.locations:
                self.locate(path)
        return self.locations
