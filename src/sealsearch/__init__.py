"""sealsearch: find and learn rare concepts in huge unlabeled pools (SEALS).

Layers, each importing only those below it (enforced by import-linter, see pyproject.toml; drawn
and explained in docs/architecture.md):
errors ← _util ← _ray ← embedders ← data ← datasets, index ← active ← experiments | sessions ←
reporting ← web ← cli.

The public names below load on first use, so `import sealsearch` and `seals --help` do not pay
for Faiss, scikit-learn and pandas until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LIVE = frozenset({"STRATEGY_NAMES"})
"""Names computed when read (a strategy registered later is listed), so never cached here."""
_EXPORTS = {  # name -> module, or module:attribute where the public name is an alias
    "SealsearchError": "sealsearch.errors",
    "GroundTruthOracle": "sealsearch.experiments.simulate",
    "Oracle": "sealsearch.experiments.simulate",
    "RunConfig": "sealsearch.experiments.simulate",
    "RunResult": "sealsearch.experiments.simulate",
    "compare": "sealsearch.experiments.compare",
    "run": "sealsearch.experiments.simulate",
    "summarize": "sealsearch.reporting.results:summary_table",
    "KnnIndex": "sealsearch.index",
    "auto_factory": "sealsearch.index",
    "build_index": "sealsearch.index",
    "load_index": "sealsearch.index",
    "open_or_build_index": "sealsearch.active.knn",
    "open_knn": "sealsearch.active.knn",
    "default_learner": "sealsearch.active.learner",
    "ActiveLoop": "sealsearch.active.loop",
    "Batch": "sealsearch.active.loop",
    "AllPool": "sealsearch.active.all_pool",
    "CandidatePool": "sealsearch.active.pools",
    "SealsPool": "sealsearch.active.pools",
    "make_pool": "sealsearch.active.pools",
    "Dataset": "sealsearch.data.dataset",
    "EmbeddingStore": "sealsearch.data.embeddings",
    "import_dataset": "sealsearch.data.importing",
    "EMBEDDERS": "sealsearch.embedders",
    "Embedder": "sealsearch.embedders",
    "register_embedder": "sealsearch.embedders",
    "write_dataset": "sealsearch.data.writer",
    "STRATEGIES": "sealsearch.active.strategies",
    "STRATEGY_NAMES": "sealsearch.active.strategies",
    "DEFAULT_STRATEGY": "sealsearch.active.strategies",
    "Strategy": "sealsearch.active.strategies",
    "register_strategy": "sealsearch.active.strategies",
    "POOLS": "sealsearch.active.pools",
    "PoolKind": "sealsearch.active.pools",
    "PoolCapabilities": "sealsearch.active.members",
    "register_pool": "sealsearch.active.pools",
    "Project": "sealsearch.sessions.project",
    "ScoringContext": "sealsearch.active.strategies",
    "select_top": "sealsearch.active.strategies",
}

__all__ = [
    "ActiveLoop",
    "AllPool",
    "Batch",
    "CandidatePool",
    "DEFAULT_STRATEGY",
    "Dataset",
    "EMBEDDERS",
    "Embedder",
    "EmbeddingStore",
    "GroundTruthOracle",
    "KnnIndex",
    "Oracle",
    "POOLS",
    "PoolCapabilities",
    "PoolKind",
    "Project",
    "RunConfig",
    "RunResult",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "ScoringContext",
    "SealsPool",
    "SealsearchError",
    "Strategy",
    "auto_factory",
    "build_index",
    "compare",
    "default_learner",
    "import_dataset",
    "load_index",
    "make_pool",
    "open_knn",
    "open_or_build_index",
    "register_embedder",
    "register_pool",
    "register_strategy",
    "run",
    "select_top",
    "summarize",
    "write_dataset",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sealsearch' has no attribute {name!r}")
    module, _, attribute = module.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    if name not in _LIVE:
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from sealsearch.active.all_pool import AllPool
    from sealsearch.active.knn import open_knn, open_or_build_index
    from sealsearch.active.learner import default_learner
    from sealsearch.active.loop import ActiveLoop, Batch
    from sealsearch.active.members import PoolCapabilities
    from sealsearch.active.pools import POOLS, CandidatePool, PoolKind, SealsPool, make_pool, register_pool
    from sealsearch.active.strategies import (
        DEFAULT_STRATEGY,
        STRATEGIES,
        STRATEGY_NAMES,
        ScoringContext,
        Strategy,
        register_strategy,
        select_top,
    )
    from sealsearch.data.dataset import Dataset
    from sealsearch.data.embeddings import EmbeddingStore
    from sealsearch.data.importing import import_dataset
    from sealsearch.data.writer import write_dataset
    from sealsearch.embedders import EMBEDDERS, Embedder, register_embedder
    from sealsearch.errors import SealsearchError
    from sealsearch.experiments.compare import compare
    from sealsearch.experiments.simulate import GroundTruthOracle, Oracle, RunConfig, RunResult, run
    from sealsearch.index import KnnIndex, auto_factory, build_index, load_index
    from sealsearch.reporting.results import summary_table as summarize
    from sealsearch.sessions.project import Project
