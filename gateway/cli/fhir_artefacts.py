"""``gateway fhir-artefacts --output DIR``: the FHIR artefacts the gateway publishes (its
profiles, extensions and code systems, ``schemas/fhir/``) for the base it runs with."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import UsageError, add_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "fhir-artefacts",
        help="write the published FHIR artefacts (profiles, extensions, code systems) for "
        "the configured FHIR base URL",
        description="Write every StructureDefinition and CodeSystem of schemas/fhir/ into DIR "
        "(one folder per kind as in the source), with the gateway's own URIs under the FHIR "
        "base URL it runs with (--fhir-base-url, GATEWAY_FHIR_BASE_URL, [fhir] base_url). "
        "Publish them where that base resolves.",
        examples=[
            "gateway fhir-artefacts --output public/fhir",
            "gateway --fhir-base-url https://gw.region.se/fhir fhir-artefacts --output out",
        ],
    )
    p.add_argument(
        "--output", metavar="DIR", required=True, help="where to write them, e.g. --output out"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.fhir.profile import PROFILES_DIR, published
    from gateway.formats.fhir.systems import BASE

    out = Path(args.output)
    files = sorted(p for p in PROFILES_DIR.rglob("*.json") if p.name != "r4-elements.json")
    try:
        for src in files:
            target = out / src.relative_to(PROFILES_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(published(src.read_text("utf-8")), "utf-8")
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"gateway: {len(files)} FHIR artefacts under {BASE} written to {out}")
    return 0
