"""The choices of a new concept, read from the library's registries at request time.

The registries (`sealsearch.STRATEGIES`, `sealsearch.POOLS`, the kNN sources, the index backends)
are the only lists: `GET /api/options` and the home page's create form are both built by
`options()`, so a strategy registered in active/strategies.py shows up in both with no web edit.
The defaults are those of `Project.create_concept`, read from its signature for the same reason,
except the strategy: the form preselects the finding strategy (`FINDING_STRATEGY`, most likely
positive), what a person labeling a rare concept wants; a REST call that names no strategy keeps
the library's default, so old scripts behave as before.
"""

from __future__ import annotations

import inspect
from typing import Any


def _defaults() -> dict[str, Any]:
    from sealsearch.active.strategies import FINDING_STRATEGY
    from sealsearch.sessions import project as projects

    parameters = inspect.signature(projects.Project.create_concept).parameters
    return {
        "strategy": FINDING_STRATEGY,
        "library_strategy": parameters["strategy"].default,
        "pool": parameters["pool"].default,
        "k": projects.DEFAULT_K,
        "batch_size": projects.DEFAULT_BATCH_SIZE,
    }


def options(project: Any = None) -> dict[str, Any]:
    """Strategies, pools, kNN sources, index backends and label values, with their defaults (and the
    project's kNN source and backend when a project is given)."""
    from sealsearch.active.knn import KNN_SOURCES
    from sealsearch.active.pools import POOLS
    from sealsearch.active.strategies import STRATEGIES
    from sealsearch.index.backends import BACKENDS
    from sealsearch.sessions.labelstore import LABELS

    defaults = _defaults()
    strategies = [
        {"name": name, "label": spec.label or name, "description": getattr(spec, "description", "") or "",
         "default": name == defaults["strategy"]}
        for name, spec in STRATEGIES.items()
    ]  # fmt: skip
    pools = [
        {"name": name, "label": kind.label or name, "description": getattr(kind, "description", "") or "",
         "uses_k": bool(kind.uses_k), "default": name == defaults["pool"]}
        for name, kind in POOLS.items()
    ]  # fmt: skip
    project_settings = {key: getattr(project, key, None) for key in ("knn", "backend")} if project is not None else {}
    return {
        "strategies": strategies,
        "pools": pools,
        "knn_sources": list(KNN_SOURCES),
        "backends": sorted(BACKENDS),
        "labels": list(LABELS),
        "defaults": defaults,
        "project": project_settings,
    }
