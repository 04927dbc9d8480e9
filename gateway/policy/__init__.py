"""The policy step (Content Filter): consent, minimisation and no diagnosis data to employers,
per recipient, between the canonical model and rendering. Rules are data
(``mappings/policy/``); see docs/policy.md."""

from gateway.policy.content_filter import apply_policy
from gateway.policy.policies import Policy, PolicyError, policies, policy_for
from gateway.policy.report import Action, PolicyResult, ReportEntry

__all__ = [
    "Action",
    "Policy",
    "PolicyError",
    "PolicyResult",
    "ReportEntry",
    "apply_policy",
    "policies",
    "policy_for",
]
