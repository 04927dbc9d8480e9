"""A source map that remembers elements and works out their readable locations on demand.

Parsing records one element per model path; most documents produce no finding at all, so
building a location string for every element up front would be wasted work on the hot path.
"""

from __future__ import annotations

from lxml import etree

from gateway.documents.issues import Location, ModelPath, SourceMap
from gateway.formats.xmlsafe import element_location


class ElementSourceMap(SourceMap):
    """``locate`` resolves through the recorded elements (and caches the result). Code that
    reads ``locations`` directly should call :meth:`materialise` first."""

    def __init__(self, elements: dict[ModelPath, etree._Element] | None = None) -> None:
        super().__init__()
        self.elements: dict[ModelPath, etree._Element] = elements if elements is not None else {}

    def add_element(self, path: ModelPath, element: etree._Element) -> None:
        self.elements[path] = element

    def locate(self, path: ModelPath) -> Location:
        for n in range(len(path), -1, -1):
            prefix = path[:n]
            found = self.locations.get(prefix)
            if found is not None:
                return found
            element = self.elements.get(prefix)
            if element is not None:
                found = self.locations[prefix] = element_location(element)
                return found
        return Location(path=".".join(str(p) for p in path))

    def materialise(self) -> dict[ModelPath, Location]:
        """Every recorded path with its location (tooling, tests)."""
        for path, element in self.elements.items():
            if path not in self.locations:
                self.locations[path] = element_location(element)
        return self.locations
