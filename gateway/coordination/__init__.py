"""Coordination across plans: the patient's plan index (the shared planning space seed 000
recommends), the rehabilitation chain's deadlines, conflicting plans flagged, and §4
statistics (issue 17, docs/coordination.md).

Pure domain code, cheap per message: ``entries`` (what the index keeps of a document),
``case`` (the sick-leave case, as Inera's tools count it), ``chain`` (deadlines as data),
``flags`` (coded conflicts, in the rule catalogue), ``index`` (the update the store runs in the
accept transaction), ``visibility`` (who sees what; the one consent seam), ``statistics`` and
``charts`` (§4 statistics, deviations, SVG), ``fhir`` (searchset Bundles). The store side is
``gateway.exchange.plan_index``; the HTTP routes ``gateway.exchange.server.coordination``.

Dependencies: exchange -> coordination -> policy -> validation -> formats -> documents.
"""
