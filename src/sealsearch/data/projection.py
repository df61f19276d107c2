"""PCA (optionally whitened) dimension reduction for imported embeddings.

SEALS on Goodreads (paper, appendix A.8) reduced 768-d Sentence-BERT vectors to 256-d with PCA
whitening before L2 normalisation: a smaller d makes every kNN search and every learner cheaper,
and whitening stops a few dominant directions (shared by all sentences) from swamping the cosine.

The fit reads only a seeded random sample of rows, accumulating the covariance in float64 chunk by
chunk, so a memory-mapped source larger than RAM is never loaded whole. The fitted map is kept
with the dataset (`projection.npz`) because a later query from the same embedder lives in the
original space and must pass through exactly the same map to be comparable with the stored rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

PCA_SAMPLE_ROWS = 100_000
PROJECTION_FILE = "projection.npz"
_CHUNK_VALUES = 1 << 23  # float64 values per chunk (64 MiB), whatever the source dimension

Progress = Callable[[int, int], None]


def check_pca_parameters(pca: int | None, *, whiten: bool, sample_size: int, n: int, dim: int, label: str) -> None:
    """Refuse impossible settings before any row is read (messages name the parameters; the CLI shows flags)."""
    if pca is None:
        if whiten:
            raise InvalidParameterError(
                "whiten needs pca K: whitening rescales the K kept principal components", params=["whiten", "pca"]
            )
        return
    if not 1 <= pca < dim:
        raise InvalidParameterError(
            f"pca {pca} must be in [1, {dim}): {label} has dimension {dim}, so keep fewer components or drop pca",
            params=["pca"],
        )
    if sample_size < 2:
        raise InvalidParameterError(
            f"pca_sample {sample_size} must be at least 2 rows to estimate a covariance", params=["pca_sample"]
        )
    sampled = min(n, sample_size)
    if pca > sampled:
        source = f"{label} has only {n} rows" if n <= sample_size else f"pca_sample is {sample_size}"
        raise InvalidParameterError(
            f"pca {pca} exceeds the {sampled} rows PCA is fitted on ({source}); lower pca or raise pca_sample",
            params=["pca", "pca_sample"],
        )


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted distinct rows (all of them when n <= size), so a memory map is read front to back."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False)).astype(np.int64)


def _chunk_rows(dim: int) -> int:
    return max(1, _CHUNK_VALUES // max(dim, 1))


def sample_covariance(
    matrix: np.ndarray,
    rows: np.ndarray,
    *,
    label: str = "embeddings",
    chunk_rows: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (float64) of the given rows, read in chunks.

    Sums are taken around the first chunk's mean rather than zero: embeddings often share a large
    common offset, and E[xxᵀ] − μμᵀ would then cancel away most of the float64 precision.
    """
    dim = matrix.shape[1]
    step = chunk_rows or _chunk_rows(dim)
    shift: np.ndarray | None = None
    total = np.zeros(dim)
    scatter = np.zeros((dim, dim))
    for start in range(0, len(rows), step):
        chunk_rows = rows[start : start + step]
        block = np.asarray(matrix[chunk_rows], dtype=np.float64)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            row = int(chunk_rows[np.argmin(finite)])
            raise InvalidDataError(f"{label}: row {row} contains NaN or inf; fix or drop that row and import again")
        if shift is None:
            shift = block.mean(axis=0)
        block -= shift
        total += block.sum(axis=0)
        scatter += block.T @ block
        if progress:
            progress(min(start + step, len(rows)), len(rows))
    m = len(rows)
    offset = total / m
    covariance = (scatter - m * np.outer(offset, offset)) / (m - 1)
    return shift + offset, (covariance + covariance.T) / 2


@dataclass(frozen=True, eq=False)
class Projection:
    """x ↦ ((x − mean) · componentsᵀ) · scale: the top principal axes of the source, with
    scale = 1/√variance when whitened (unit variance on every kept axis) and 1 otherwise.

    Rows come out unnormalised; the dataset L2-normalises after projecting, as the paper did.
    """

    mean: np.ndarray  # (source_dim,)
    components: np.ndarray  # (dim, source_dim), orthonormal rows by decreasing variance
    variances: np.ndarray  # (dim,) sample variance along each component
    scale: np.ndarray  # (dim,)
    total_variance: float  # trace of the sample covariance, for the share kept
    whiten: bool
    sample_rows: int  # how many rows the fit saw
    seed: int  # which sample of rows (reproducible refits)

    @property
    def source_dim(self) -> int:
        return int(self.components.shape[1])

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def variance_kept(self) -> float:
        """Share of the sample's total variance on the kept components (before whitening)."""
        return float(self.variances.sum() / self.total_variance)

    def describe(self) -> dict[str, int | float | bool | str]:
        """The facts a person wants in dataset.json; `projection.npz` holds the arrays."""
        return {
            "file": PROJECTION_FILE, "source_dim": self.source_dim, "dim": self.dim, "whiten": self.whiten,
            "variance_kept": round(self.variance_kept, 6), "sample_rows": self.sample_rows, "seed": self.seed,
        }  # fmt: skip

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """(m, source_dim) → (m, dim) float64, not normalised."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.source_dim:
            raise InvalidDataError(
                f"vectors of shape {vectors.shape} cannot be projected: expected (m, {self.source_dim}), "
                "the dimension of the embeddings the projection was fitted on"
            )
        return ((vectors.astype(np.float64) - self.mean) @ self.components.T) * self.scale

    def apply_in_chunks(self, matrix: np.ndarray, chunk_rows: int | None = None) -> Iterator[np.ndarray]:
        """Projected blocks of a (possibly memory-mapped) matrix, in row order, with bounded memory."""
        step = chunk_rows or _chunk_rows(self.source_dim)
        for start in range(0, matrix.shape[0], step):
            yield self.apply(matrix[start : start + step])

    def save(self, path: Path) -> None:
        np.savez(
            path, mean=self.mean, components=self.components, variances=self.variances, scale=self.scale,
            total_variance=np.float64(self.total_variance), whiten=np.bool_(self.whiten),
            sample_rows=np.int64(self.sample_rows), seed=np.int64(self.seed), source_dim=np.int64(self.source_dim),
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Projection:
        if not path.is_file():
            raise MissingFileError(f"{path}: projection file not found; re-import the dataset with pca", params=["pca"])
        try:
            with np.load(path, allow_pickle=False) as stored:
                projection = cls(
                    mean=stored["mean"], components=stored["components"], variances=stored["variances"],
                    scale=stored["scale"], total_variance=float(stored["total_variance"]),
                    whiten=bool(stored["whiten"]), sample_rows=int(stored["sample_rows"]), seed=int(stored["seed"]),
                )  # fmt: skip
                source_dim = int(stored["source_dim"])
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidDataError(f"{path}: unreadable projection ({exc}); re-import the dataset") from None
        k = projection.dim
        shapes = (projection.mean.shape, projection.variances.shape, projection.scale.shape)
        if source_dim != projection.source_dim or shapes != ((source_dim,), (k,), (k,)):
            raise InvalidDataError(f"{path}: inconsistent array shapes; re-import the dataset")
        return projection


def fit_projection(
    matrix: np.ndarray,
    pca: int,
    *,
    whiten: bool = False,
    sample_size: int = PCA_SAMPLE_ROWS,
    seed: int = 0,
    label: str = "embeddings",
    progress: Progress | None = None,
) -> Projection:
    """The top `pca` principal axes of a seeded sample of at most `sample_size` rows."""
    n, dim = matrix.shape
    check_pca_parameters(pca, whiten=whiten, sample_size=sample_size, n=n, dim=dim, label=label)
    rows = sample_rows(n, sample_size, seed)
    mean, covariance = sample_covariance(matrix, rows, label=label, progress=progress)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    total = float(np.clip(eigenvalues, 0, None).sum())
    if total <= 0:
        raise InvalidDataError(f"{label}: the sampled rows are all identical, so PCA has no direction to keep")
    order = np.argsort(eigenvalues)[::-1][:pca]
    variances = np.clip(eigenvalues[order], 0, None)
    components = eigenvectors[:, order].T
    # An eigenvector's sign is arbitrary; fix it (largest coordinate positive) so a refit is reproducible.
    largest = np.abs(components).argmax(axis=1)
    components *= np.sign(components[np.arange(pca), largest])[:, None]
    scale = np.ones(pca)
    if whiten:
        tolerance = eigenvalues.max() * dim * np.finfo(np.float64).eps  # as numpy's matrix_rank
        rank = int((eigenvalues > tolerance).sum())
        if rank < pca:
            raise InvalidDataError(
                f"{label}: whiten cannot rescale component {rank + 1} of {pca}: the sampled rows vary in only "
                f"{rank} directions; use pca {rank} or less",
                params=["whiten", "pca"],
            )
        scale = 1 / np.sqrt(variances)
    return Projection(
        mean=mean, components=components, variances=variances, scale=scale, total_variance=total, whiten=whiten,
        sample_rows=len(rows), seed=seed,
    )  # fmt: skip
