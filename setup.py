"""Packaging beyond what pyproject.toml can say: the top-level ``schemas/`` and ``mappings/``
folders travel in the wheel as the package data ``gateway/schemas`` and ``gateway/mappings``
(read with ``importlib.resources``; see ``gateway._data_dir``), with the stores' SQL
migrations. All package data is declared here: a ``[tool.setuptools.package-data]`` table in
pyproject.toml would replace this one whole. Metadata: pyproject.toml."""

from setuptools import find_packages, setup

DATA = {"gateway.schemas": "schemas", "gateway.mappings": "mappings"}

setup(
    packages=[*find_packages(include=["gateway", "gateway.*"]), *DATA],
    package_dir=DATA,
    package_data={
        **{name: ["**/*.xsd", "**/*.json", "**/*.toml"] for name in DATA},
        # the stores' versioned migrations (gateway/exchange/store/migrations/<database>/)
        "gateway.exchange.store": ["migrations/*/*.sql"],
        # the console's templates, labels, stylesheet and script (gateway/console/)
        "gateway.console": ["templates/*.html", "labels/*.toml", "static/*"],
    },
)
