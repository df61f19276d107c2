"""The per-concept classifier: any sklearn estimator with `predict_proba`.

Logistic regression on the embeddings is the paper's learner and the default. sklearn refuses to
fit a single class, which happens for real when a person starts from positives only; rather than
catching that error, `fit_learner` applies an explicit cold-start rule (`SimilarityModel`) until
both classes are labeled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression, SGDClassifier

DEFAULT_C = 100.0
"""Inverse regularisation of the default learner. Unit-norm embeddings separate a rare concept
only with large weights; sklearn's C = 1 shrinks them so far that no item ever reaches
P(positive) = 0.5, and MaxEnt then ranks exactly like MLP. Measured on 8 WordNet concepts at
T = 1,000 (bench/learner_regularization.py): test AP 0.49 (C = 1), 0.59 (C = 10), 0.65–0.67 (C = 100)."""


def default_learner() -> LogisticRegression:
    """Logistic regression on the embeddings, as in the paper, with `DEFAULT_C`."""
    return LogisticRegression(C=DEFAULT_C, max_iter=1000)


class SimilarityModel(ClassifierMixin, BaseEstimator):
    """Cold-start scorer used while the labels hold one class only.

    With only positives, P(positive | z) = (1 + cos(z, mean positive)) / 2: items most like the
    positives rank first. With only negatives, P(positive | z) = (1 - cos(z, mean negative)) / 2:
    items least like the negatives rank first. Both are monotone in similarity, so MLP picks the
    nearest neighbours of the seed, which is what a person expects before any negative exists.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> SimilarityModel:
        y = np.asarray(y)
        self.classes_ = np.array([0, 1])
        self.present_class_ = int(y[0])
        centre = np.asarray(X, dtype=np.float64).mean(axis=0)
        norm = np.linalg.norm(centre)
        self.centre_ = (centre / norm if norm > 0 else centre).astype(np.float32)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        sims = np.clip(np.asarray(X, dtype=np.float32) @ self.centre_, -1.0, 1.0)
        positive = (1 + sims) / 2 if self.present_class_ == 1 else (1 - sims) / 2
        return np.column_stack([1 - positive, positive])


def fit_learner(template: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    """A fresh clone of `template` fitted on (X, y), or the cold-start model for one class."""
    if np.unique(y).size < 2:
        return SimilarityModel().fit(X, y)
    return clone(template).fit(X, y)


def positive_proba(model: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """P(label = 1) whatever order the model's `classes_` are in.

    Embeddings were checked for NaN/inf when the dataset was written, so sklearn's own finiteness
    scan (a second full pass over every scored chunk) is skipped.
    """
    column = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
    with config_context(assume_finite=True):
        return model.predict_proba(X)[:, column]


def proba_function(model: BaseEstimator) -> Callable[[np.ndarray], np.ndarray]:
    """`positive_proba(model, block)` as a function of a block of rows, through `linear_form` when
    the model has one: one float32 product per block instead of sklearn's validation, float64
    copy and two-column output, which dominate a scan of a whole pool (the recall estimate, "what
    the model finds"). The values agree with `positive_proba` to float32 precision."""
    form = linear_form(model)
    if form is None:
        return lambda X: positive_proba(model, X)

    def proba(X: np.ndarray) -> np.ndarray:
        z = np.asarray(X, dtype=np.float32) @ form.weights
        return form.link(z.astype(np.float64) + form.intercept)

    return proba


@dataclass(frozen=True)
class LinearForm:
    """A model whose P(positive | x) is `link(x · weights + intercept)`: what fused scoring needs.

    `weights` are float32 (the vectors' precision, so a block is scored with one float32 BLAS
    product instead of sklearn's float64 copy and two-column output); `link` maps float64
    decision values to P(positive), elementwise.
    """

    weights: np.ndarray
    intercept: float
    link: Callable[[np.ndarray], np.ndarray]


def _half_clipped(z: np.ndarray) -> np.ndarray:
    return (1.0 + np.clip(z, -1.0, 1.0)) / 2.0


def linear_form(model: BaseEstimator) -> LinearForm | None:
    """The model as a `LinearForm` when its `predict_proba` is a link of one linear function:
    binary logistic regression, `SGDClassifier` with log or modified-Huber loss, and the
    cold-start `SimilarityModel`. None for anything else (it keeps `positive_proba`)."""
    if isinstance(model, SimilarityModel):
        sign = 1.0 if model.present_class_ == 1 else -1.0
        return LinearForm((sign * model.centre_).astype(np.float32), 0.0, _half_clipped)
    if isinstance(model, LogisticRegression):
        link = expit
    elif isinstance(model, SGDClassifier) and model.loss in ("log_loss", "modified_huber"):
        link = expit if model.loss == "log_loss" else _half_clipped
    else:
        return None
    classes = np.asarray(getattr(model, "classes_", []))
    coef = np.asarray(getattr(model, "coef_", np.empty((0, 0))))
    if classes.size != 2 or coef.ndim != 2 or coef.shape[0] != 1 or 1 not in classes.tolist():
        return None
    # The decision function is positive towards classes_[1]; P(label = 1) is its link, or the
    # link of its negation when 1 is classes_[0].
    sign = 1.0 if classes[1] == 1 else -1.0
    intercept = float(np.ravel(getattr(model, "intercept_", [0.0]))[0])
    return LinearForm((sign * coef[0]).astype(np.float32), sign * intercept, link)
