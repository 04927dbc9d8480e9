"""Packaging beyond what pyproject.toml can say: the top-level ``schemas/`` and ``mappings/``
folders travel in the wheel as the package data ``gateway/schemas`` and ``gateway/mappings``
(read with ``importlib.resources``; see ``gateway._data_dir``), with the stores' SQL
migrations. All package data is declared here: a ``[tool.setuptools.package-data]`` table in
pyproject.toml would replace this one whole. Metadata: pyproject.toml.

The compiled build (issue 21): the modules of the per-message path in :data:`COMPILED` are
compiled with mypyc into C extensions when a wheel is built (``pip wheel .``, ``pip install
.``) where mypyc and a C compiler are present; their Python sources travel beside them and are
the build everywhere else, behaving identically (CI runs the suite against both builds).
``GATEWAY_PURE=1`` builds pure Python; ``GATEWAY_COMPILE=1`` compiles even an editable
install or ``setup.py build_ext --inplace`` (CI and bench/ do that in a copy of the tree).
Editable installs are pure by default: an extension built from a module would keep running
the old code after the module is edited.
"""

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import find_packages, setup

DATA = {"gateway.schemas": "schemas", "gateway.mappings": "mappings"}

#: The hot modules: the RIVTA certificate reader, the own-XML binding, the source maps, the
#: certificate rules and the catalogue they read (docs/performance.md measures each build).
COMPILED = [
    "gateway/documents/questions.py",
    "gateway/formats/xmlsafe.py",
    "gateway/formats/sourcemap.py",
    "gateway/formats/rivta/reading.py",
    "gateway/formats/rivta/answer_reader.py",
    "gateway/formats/rivta/certificate_reader.py",
    "gateway/formats/rivta/send_message_reader.py",
    "gateway/formats/rivta/send_message_to_care.py",
    "gateway/formats/ownxml/binding.py",
    "gateway/validation/engine.py",
    "gateway/validation/identity_rules.py",
    "gateway/validation/certificate_rules.py",
    "gateway/validation/certificate_catalogue_rules.py",
    "gateway/validation/certificate_cross_rules.py",
]


def _wants_compiled() -> bool:
    if os.environ.get("GATEWAY_PURE"):
        return False
    if os.environ.get("GATEWAY_COMPILE"):
        return True
    # only a build compiles: not `pip install -e` (editable_wheel), nor the metadata and
    # build-requirement steps pip runs first (egg_info, dist_info) in its isolated environment
    return not _BUILDS.isdisjoint(sys.argv[1:])


_BUILDS = frozenset({"bdist_wheel", "build", "build_ext", "install"})


def _have_compiler() -> bool:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(cc) is not None and include.is_file()


def ext_modules() -> list[object]:
    """mypyc's extensions of :data:`COMPILED`, or none: the pure build."""
    if not _wants_compiled():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("gateway: mypyc not available, building pure Python", file=sys.stderr)
        return []
    if not _have_compiler():
        print("gateway: no C compiler or Python headers, building pure Python", file=sys.stderr)
        return []
    # mypyc type-checks what the compiled modules import, lazily too (the acknowledgement
    # codec's registry, and through it orjson, fhir.resources ...): a package missing from the
    # isolated build environment is typed Any there (the compiled code calls it generically)
    # rather than failing the build; mypy in CI checks the types for real
    paths = [*COMPILED, "--ignore-missing-imports"]
    return list(mypycify(paths, opt_level="3", group_name="gateway"))


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
    ext_modules=ext_modules(),
)
