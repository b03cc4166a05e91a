"""The import-light routing policy apps use: ``load_policy().decide(RequestFeatures(...))``.

Standard library only (no numpy, torch, openai or lara.engine), no side effects at import.
Fitting lives in :mod:`lara.routing.fit` and evaluation in :mod:`lara.routing.evaluate`
(also standard library only), imported on use.
"""

from lara.routing.loader import PolicyError, load_policy, policy_from_dict, save_policy, shipped_policies
from lara.routing.policy import Policy
from lara.routing.types import CATEGORIES, STRATEGIES, Decision, RequestFeatures

__all__ = [
    "CATEGORIES",
    "STRATEGIES",
    "Decision",
    "Policy",
    "PolicyError",
    "RequestFeatures",
    "load_policy",
    "policy_from_dict",
    "save_policy",
    "shipped_policies",
]
