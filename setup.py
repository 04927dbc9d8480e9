"""Packaging beyond what pyproject.toml can say: the top-level ``schemas/`` and ``mappings/``
folders travel in the wheel as the package data ``gateway/schemas`` and ``gateway/mappings``
(read with ``importlib.resources``; see ``gateway.resources``). Metadata: pyproject.toml."""

from setuptools import find_packages, setup

DATA = {"gateway.schemas": "schemas", "gateway.mappings": "mappings"}

setup(
    packages=[*find_packages(include=["gateway", "gateway.*"]), *DATA],
    package_dir=DATA,
    package_data={name: ["**/*.xsd", "**/*.json", "**/*.toml"] for name in DATA},
)
