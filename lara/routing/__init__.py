"""The import-light routing policy apps use: ``load_policy().decide(RequestFeatures(...))``.

Standard library only at decision time (no numpy, torch, openai or lara.engine), no side effects at
import. The default policy is the question-level router (:mod:`lara.routing.question`); the old
per-cell table is ``load_policy("paper_table")``. Fitting (:mod:`lara.routing.train`, scikit-learn
inside its functions), probe calibration (:mod:`lara.routing.probe`) and evaluation
(:mod:`lara.routing.evaluate`, :mod:`lara.routing.generalise`) are imported on use.
"""

from lara.routing.loader import PolicyError, load_policy, policy_from_dict, save_policy, shipped_policies
from lara.routing.policy import Policy
from lara.routing.question import QuestionPolicy
from lara.routing.types import CATEGORIES, STRATEGIES, Decision, RequestFeatures

__all__ = [
    "CATEGORIES",
    "STRATEGIES",
    "Decision",
    "Policy",
    "PolicyError",
    "QuestionPolicy",
    "RequestFeatures",
    "load_policy",
    "policy_from_dict",
    "save_policy",
    "shipped_policies",
]
