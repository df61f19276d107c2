"""Selection strategies as plain functions over the candidate rows only.

A scorer is `score(proba, ctx) -> scores` (higher = pick first): it sees the model's positive-class
probabilities and a `ScoringContext`, never the whole unlabeled set, so a SEALS pool makes every
strategy cheap. Scorers are elementwise, so the loop may call them chunk by chunk on huge pools.
Greedy k-centers is a batch rule (each pick changes the next one's score) and so is a selector.
Choosing the top n is its own helper, `select_top`, with deterministic tie-breaking.

`STRATEGIES` is the one table of names: the CLI's choices and help, the web form's options, the
"did you mean" errors, the order of tables and legends, whether a strategy needs the model and
whether it has a fused form (sealsearch.active.fused) all come from its entries. A new named
strategy is one `register_strategy(Strategy(...))` (docs/architecture.md walks through it). A
user's own scorer needs no registration: `ActiveLoop(strategy=my_scorer)` wraps it with `as_strategy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sealsearch._util import check_name, register
from sealsearch.errors import InvalidParameterError

DEFAULT_STRATEGY = "maxent"
FINDING_STRATEGY = "mlp"
"""What a person labeling a rare concept usually wants, finding as many positives as possible:
the default of the app's create form and of `seals label`. The library (and a REST call that
names no strategy) keeps DEFAULT_STRATEGY, so scripts and simulations are unchanged."""
"""The strategy every signature defaults to (the paper's MaxEnt): the one place it is named."""


@dataclass(frozen=True)
class ScoringContext:
    """What a strategy may look at besides probabilities.

    `candidate_vectors` are unit-norm rows aligned with `proba` (up to the store's precision:
    float16 rows are off by ~1e-3); `pool_mean` is the mean of the whole candidate pool's unit
    vectors (not only this chunk), which turns information density's mean cosine similarity into
    one dot product. `rng` is derived from the loop's seed and round, so a replayed loop draws the
    same numbers; scorers that use the model run block by block, possibly in parallel, so only
    model-free scorers (called once over all candidates) should draw from it.
    """

    candidate_vectors: np.ndarray
    pool_mean: np.ndarray
    rng: np.random.Generator
    labeled_vectors: np.ndarray | None = None


def _binary_entropy(proba: np.ndarray) -> np.ndarray:
    # float64 first: in float32, 1 - 1e-12 rounds to 1 and (1 - p) * log(1 - p) becomes 0 * -inf.
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def random_scores(proba: np.ndarray, ctx: ScoringContext) -> np.ndarray:
    """Uniform random order: the baseline every other strategy must beat."""
    return ctx.rng.random(len(proba))


def maxent(proba: np.ndarray, ctx: ScoringContext) -> np.ndarray:
    """Max-entropy uncertainty; for binary labels it ranks like least-confidence and margin."""
    return _binary_entropy(proba)


def most_likely_positive(proba: np.ndarray, ctx: ScoringContext) -> np.ndarray:
    """Active search: label what is most likely positive (maximises positives found)."""
    return np.asarray(proba, dtype=np.float64)


def information_density(proba: np.ndarray, ctx: ScoringContext, beta: float = 1.0) -> np.ndarray:
    """MaxEnt × (mean cosine similarity to the pool)^β, exact and linear.

    For unit vectors, mean_p cos(z, p) = z · mean_p(p), so the O(|P|²) pairwise matrix of the
    textbook formula is never built; the pool keeps its running sum of unit vectors. The
    candidates are renormalised and dotted with the mean in float64: float16 stores hold rows
    whose norms are off by ~1e-3, and the density must match the pairwise formula, not that.
    """
    vectors = np.asarray(ctx.candidate_vectors, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    density = (vectors @ np.asarray(ctx.pool_mean, dtype=np.float64)) / np.where(norms > 0, norms, 1.0)
    return density_scores(proba, density, beta)


def density_scores(proba: np.ndarray, density: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """Information density from P(positive) and each candidate's mean cosine to the pool (the
    one formula behind `information_density` and its fused form)."""
    return _binary_entropy(proba) * np.power(np.asarray(density, dtype=np.float64), beta)


def select_top(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the n highest scores, best first; ties go to the lower position.

    NaN and -inf scores rank last. Only the scores above -inf are partitioned (argpartition:
    linear in their number), so a pruned scan (sealsearch.active.fused), whose rows out of
    contention are -inf, costs one comparison per row here.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = min(int(n), scores.size)
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    ranked = np.flatnonzero(scores > -np.inf)  # NaN compares False
    if ranked.size < n:  # the rest, -inf or NaN, all tie: lowest positions first
        last = np.flatnonzero(~(scores > -np.inf))[: n - ranked.size]
        return np.concatenate([ranked[_top(scores[ranked], ranked.size)], last]).astype(np.int64)
    if ranked.size == scores.size:
        return _top(scores, n).astype(np.int64)
    return ranked[_top(scores[ranked], n)].astype(np.int64)


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """select_top over scores that are all above -inf."""
    if n < scores.size:
        kth = scores[np.argpartition(-scores, n - 1)[:n]].min()
        above = np.flatnonzero(scores > kth)
        ties = np.flatnonzero(scores == kth)[: n - above.size]
        chosen = np.concatenate([above, ties])
    else:
        chosen = np.arange(scores.size)
    return chosen[np.lexsort((chosen, -scores[chosen]))]


def select_top_distinct(
    scores: np.ndarray, vectors_of: Callable[[np.ndarray], np.ndarray], n: int, threshold: float
) -> np.ndarray:
    """Like `select_top`, but a candidate whose cosine to an already chosen one exceeds
    `threshold` is skipped: near-duplicates spend labels without teaching anything new (the
    paper's MLP stalled on them at billion scale).

    Candidates are walked best-first in blocks of 2n (a block's vectors come from `vectors_of`
    positions), so only the top of the ranking is ever gathered; each block is compared to the
    chosen rows with one matrix product, then thinned greedily in score order.
    """
    n = min(int(n), len(scores))
    chosen: list[int] = []
    chosen_vectors = np.empty((0, 0), dtype=np.float32)
    seen = 0
    block = max(2 * n, 1)
    while len(chosen) < n and seen < len(scores):
        ranked = select_top(scores, min(len(scores), seen + block))[seen:]
        seen += ranked.size
        vectors = np.asarray(vectors_of(ranked), dtype=np.float32)
        allowed = np.ones(ranked.size, dtype=bool)
        if chosen_vectors.size:
            allowed &= (vectors @ chosen_vectors.T).max(axis=1) <= threshold
        within = vectors @ vectors.T
        picked = []
        for i in np.flatnonzero(allowed):
            if not allowed[i]:
                continue
            picked.append(i)
            if len(chosen) + len(picked) == n:
                break
            allowed &= within[i] <= threshold
        chosen.extend(ranked[picked].tolist())
        chosen_vectors = vectors[picked] if not chosen_vectors.size else np.vstack([chosen_vectors, vectors[picked]])
        block *= 2
    return np.asarray(chosen, dtype=np.int64)


def kcenter_greedy(ctx: ScoringContext, n: int) -> np.ndarray:
    """Greedy k-centers (Sener & Savarese): repeatedly pick the candidate farthest from everything
    labeled or already picked, with cosine distance. Ignores the model by design (paper §3.1)."""
    vectors = ctx.candidate_vectors
    n = min(int(n), len(vectors))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if ctx.labeled_vectors is not None and len(ctx.labeled_vectors):
        nearest = np.full(len(vectors), -np.inf, dtype=np.float32)
        for start in range(0, len(ctx.labeled_vectors), 4096):
            sims = vectors @ ctx.labeled_vectors[start : start + 4096].T
            np.maximum(nearest, sims.max(axis=1), out=nearest)
        distance = 1.0 - nearest
    else:
        distance = np.full(len(vectors), np.inf, dtype=np.float32)
    picks = np.empty(n, dtype=np.int64)
    for i in range(n):
        pick = int(np.argmax(distance))
        picks[i] = pick
        np.minimum(distance, 1.0 - vectors @ vectors[pick], out=distance)
        distance[pick] = -np.inf
    return picks


Scorer = Callable[[np.ndarray, ScoringContext], np.ndarray]
Selector = Callable[[ScoringContext, int], np.ndarray]


FusedForm = Literal["entropy", "positive", "density"]
"""The formulas sealsearch.active.fused computes straight from a linear model's decision values:
max entropy, P(positive), information density."""
FUSED_FORMS: tuple[str, ...] = ("entropy", "positive", "density")


@dataclass(frozen=True)
class Strategy:
    """One selection strategy: a scorer (ranked by `select_top`) or a batch selector.

    `uses_model` says whether it reads the model's probabilities: the loop trains and runs
    `predict_proba` only for those, and calls their scorers block by block; the others get NaN
    probabilities in one call. `fused` names the formula of its fused form (see FusedForm), so a
    linear model scores it from float32 decision values; None declares it has none and takes the
    general path. `label` is how tables and legends name it; `description` how a person choosing
    it (the CLI help, the web form) reads it.
    """

    name: str
    function: Scorer | Selector
    kind: Literal["scorer", "selector"] = "scorer"
    uses_model: bool = True
    label: str = ""
    description: str = ""
    fused: FusedForm | None = None

    def __post_init__(self) -> None:
        if self.fused is not None and (self.fused not in FUSED_FORMS or self.kind != "scorer"):
            raise InvalidParameterError(
                f"strategy {self.name!r}: fused must be None or, for a scorer, one of {', '.join(FUSED_FORMS)}; "
                f"got {self.fused!r}"
            )


STRATEGIES: dict[str, Strategy] = {}
"""Every named strategy, in the order tables and legends list them (`register_strategy` adds one)."""


def register_strategy(strategy: Strategy) -> Strategy:
    """Make `strategy` a named choice everywhere (CLI, web form, reports); a second strategy of
    the same name is refused. Returns it, so a module may keep it as a constant."""
    return register(STRATEGIES, strategy.name, strategy, "strategy")


for _builtin in (
    Strategy("random", random_scores, uses_model=False, label="Random",
             description="random order (a baseline to compare against)"),
    Strategy("maxent", maxent, label="MaxEnt", description="train the best classifier (most uncertain first)",
             fused="entropy"),
    Strategy("mlp", most_likely_positive, label="MLP",
             description="find as many as possible (most likely positive first)", fused="positive"),
    Strategy(
        "id",
        information_density,
        label="ID",
        description="train the best classifier on typical items (uncertain and typical first)",
        fused="density",
    ),
    Strategy(
        "kcenter",
        kcenter_greedy,
        kind="selector",
        uses_model=False,
        label="k-center",
        description="explore: items most unlike everything labeled (greedy k-centers)",
    ),
):  # fmt: skip
    register_strategy(_builtin)


def strategy_names() -> tuple[str, ...]:
    """The registered names now (`STRATEGY_NAMES` is the same, read when imported)."""
    return tuple(STRATEGIES)


def __getattr__(name: str) -> object:
    if name == "STRATEGY_NAMES":  # live, so a strategy registered after import is listed
        return strategy_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_strategy(name: str) -> str:
    return check_name(name, STRATEGIES, "strategy")


def as_strategy(strategy: str | Strategy | Scorer) -> Strategy:
    """A registered name, a `Strategy`, or a user's scorer `f(proba, ctx) -> scores` (which reads
    the model; wrap it in `Strategy(..., uses_model=False)` to get NaN probabilities instead)."""
    if isinstance(strategy, Strategy):
        return strategy
    if isinstance(strategy, str):
        return STRATEGIES[check_strategy(strategy)]
    if callable(strategy):
        name = getattr(strategy, "__name__", type(strategy).__name__)
        return Strategy(name, strategy, label=name)
    raise InvalidParameterError(
        f"strategy must be a name ({', '.join(STRATEGIES)}) or a scorer f(proba, context), got {strategy!r}"
    )
