"""sealsearch: find and learn rare concepts in huge unlabeled pools (SEALS).

Layers, each importing only those below it:
store (embeddings) ← index (kNN) ← pool (candidates) ← loop (ask/tell) ← experiment ← demo/cli.
Strategies and the learner are pure functions/estimators used by the loop.
"""

from sealsearch.errors import SealsearchError
from sealsearch.experiment import GroundTruthOracle, Oracle, RunConfig, RunResult, compare, run, summarize
from sealsearch.index import KnnIndex, auto_factory, build_index, load_index, open_or_build_index
from sealsearch.learner import default_learner
from sealsearch.loop import ActiveLoop, Batch
from sealsearch.pool import AllPool, CandidatePool, SealsPool, make_pool
from sealsearch.store import Dataset, EmbeddingStore, import_dataset, write_dataset
from sealsearch.strategies import STRATEGY_NAMES, ScoringContext, select_top

__all__ = [
    "ActiveLoop", "AllPool", "Batch", "CandidatePool", "Dataset", "EmbeddingStore", "GroundTruthOracle",
    "KnnIndex", "Oracle", "RunConfig", "RunResult", "STRATEGY_NAMES", "ScoringContext", "SealsPool",
    "SealsearchError", "auto_factory", "build_index", "compare", "default_learner", "import_dataset",
    "load_index", "make_pool", "open_or_build_index", "run", "select_top", "summarize", "write_dataset",
]  # fmt: skip
