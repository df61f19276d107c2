"""`seals import --pca K [--whiten]`: the PCA maths, the stored projection, and query projection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.data.importing import import_dataset
from sealsearch.data.projection import fit_projection, sample_covariance
from sealsearch.data.writer import write_dataset
from sealsearch.errors import InvalidDataError, MissingFileError

runner = CliRunner()
STRONG = np.array([100.0, 25.0, 9.0])  # variances of the three strong directions
WEAK = 0.01  # variance of every other direction


def known_spectrum(m: int = 400, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose sample covariance is exactly Q·diag(STRONG, WEAK, …)·Qᵀ (and a large common
    offset, as real embeddings have); returns them and the orthonormal axes Q."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(m, dim))
    z, _ = np.linalg.qr(noise - noise.mean(axis=0))  # centred orthonormal columns
    axes, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    variances = np.concatenate([STRONG, np.full(dim - 3, WEAK)])
    rows = (z * np.sqrt(m - 1)) * np.sqrt(variances) @ axes.T + 50 * rng.normal(size=dim)
    return rows, axes


@pytest.fixture
def source(tmp_path):
    rows, _ = known_spectrum()
    np.save(tmp_path / "X.npy", rows.astype(np.float32))
    return tmp_path


def seals(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_variance_kept_and_axes_on_a_known_spectrum():
    rows, axes = known_spectrum()
    projection = fit_projection(rows, 3)
    assert projection.variance_kept == pytest.approx(STRONG.sum() / (STRONG.sum() + 13 * WEAK), rel=1e-9)
    np.testing.assert_allclose(projection.variances, STRONG, rtol=1e-9)
    np.testing.assert_allclose(np.abs(projection.components @ axes[:, :3]), np.eye(3), atol=1e-9)
    assert fit_projection(rows, 5).variance_kept == pytest.approx(
        (STRONG.sum() + 2 * WEAK) / (STRONG.sum() + 13 * WEAK)
    )


def test_whitening_gives_identity_covariance_before_normalisation():
    rows, _ = known_spectrum()
    plain = fit_projection(rows, 6).apply(rows)
    np.testing.assert_allclose(np.cov(plain, rowvar=False), np.diag([*STRONG, WEAK, WEAK, WEAK]), atol=1e-9)
    whitened = fit_projection(rows, 6, whiten=True).apply(rows)
    np.testing.assert_allclose(np.cov(whitened, rowvar=False), np.eye(6), atol=1e-9)
    np.testing.assert_allclose(whitened.mean(axis=0), 0, atol=1e-9)


def test_fit_on_a_sample_is_seeded_and_close_to_the_full_fit():
    rows = known_spectrum(m=3000)[0]
    a, b = fit_projection(rows, 3, sample_size=1000, seed=1), fit_projection(rows, 3, sample_size=1000, seed=1)
    assert a.sample_rows == 1000 and np.array_equal(a.components, b.components)
    assert not np.array_equal(a.mean, fit_projection(rows, 3, sample_size=1000, seed=2).mean)
    np.testing.assert_allclose(np.abs(a.components @ fit_projection(rows, 3).components.T), np.eye(3), atol=0.1)


def test_chunked_covariance_and_application_equal_one_shot():
    rows = known_spectrum()[0]
    picked = np.arange(0, 400, 3)
    mean, covariance = sample_covariance(rows, picked, chunk_rows=13)
    np.testing.assert_allclose(mean, rows[picked].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(covariance, np.cov(rows[picked], rowvar=False), atol=1e-9)
    projection = fit_projection(rows, 4, whiten=True)
    chunked = np.vstack(list(projection.apply_in_chunks(rows, chunk_rows=7)))
    np.testing.assert_allclose(chunked, projection.apply(rows), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("whiten", [False, True])
def test_import_stores_a_projection_that_queries_follow(source, whiten):
    result = seals("import", source / "ds", "--embeddings", source / "X.npy", "--pca", 4, *(["--whiten"] * whiten))
    assert result.exit_code == 0, result.output
    assert f"PCA 16 → 4 fitted on 400 sampled rows: {(STRONG.sum() + WEAK) / (STRONG.sum() + 13 * WEAK):.1%}" in (
        result.stdout
    )
    dataset = Dataset.open(source / "ds")
    stored = dataset.embeddings.take(np.arange(dataset.info.n))
    assert stored.shape == (400, 4)
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1, atol=1e-6)
    assert json.loads((source / "ds" / "dataset.json").read_text())["projection"]["whiten"] is whiten
    raw = np.load(source / "X.npy")
    np.testing.assert_allclose(dataset.project(raw), stored, atol=1e-6)  # a query lands on its own row
    np.testing.assert_allclose(dataset.project(raw[17]), stored[17], atol=1e-6)
    with pytest.raises(InvalidDataError, match="expected 16 values per vector .*before --pca"):
        dataset.project(stored[:2])


def test_project_without_a_projection_only_normalises(tmp_path):
    dataset = write_dataset(tmp_path / "d", np.eye(3) * 5)
    assert dataset.projection is None and dataset.info.projection is None
    np.testing.assert_allclose(dataset.project(np.array([0.0, 3.0, 4.0])), [0, 0.6, 0.8], rtol=1e-6)
    with pytest.raises(InvalidDataError, match="expected 3 values per vector"):
        dataset.project(np.ones((2, 4)))


def test_a_missing_projection_file_is_named(source):
    import_dataset(source / "ds", source / "X.npy", pca=2)
    (source / "ds" / "projection.npz").unlink()
    with pytest.raises(MissingFileError, match="projection.npz: projection file not found"):
        Dataset.open(source / "ds")


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--pca", 16], ["--pca 16 must be in [1, 16)"]),
        (["--pca", 0], ["'--pca'", "allowed: 1.."]),
        (["--whiten"], ["--whiten needs --pca"]),
        (["--pca", 8, "--pca-sample", 5], ["--pca 8 exceeds the 5 rows", "--pca-sample"]),
        (["--pca", 2, "--pca-sample", 1], ["'--pca-sample'", "allowed: 2.."]),
        (["--pca", 2, "--embeddings", "flat.npy", "--whiten"], ["flat.npy", "vary in only 1 directions"]),
        (["--pca", 2, "--embeddings", "nan.npy"], ["nan.npy", "row 123 contains NaN"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(source, flags, fragments):
    x = np.load(source / "X.npy")
    np.save(source / "flat.npy", np.outer(np.arange(1, 401), np.ones(16)).astype(np.float32))
    x[123, 5] = np.nan
    np.save(source / "nan.npy", x)
    flags = [source / f if str(f).endswith(".npy") else f for f in flags]
    embeddings = [] if "--embeddings" in flags else ["--embeddings", source / "X.npy"]
    before = sorted(p.name for p in source.iterdir())
    result = seals("import", source / "out", *embeddings, *flags)
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert sorted(p.name for p in source.iterdir()) == before  # no output, no hidden temporary directory


def test_an_existing_dataset_is_never_touched(source):
    assert seals("import", source / "ds", "--embeddings", source / "X.npy").exit_code == 0
    files = {p.name: p.read_bytes() for p in (source / "ds").iterdir() if p.is_file()}
    for flags in (["--pca", 4], ["--pca", 99]):
        result = seals("import", source / "ds", "--embeddings", source / "X.npy", *flags)
        assert result.exit_code == 2 and "error: " in result.stderr
    assert {p.name: p.read_bytes() for p in (source / "ds").iterdir() if p.is_file()} == files
    assert Dataset.open(source / "ds").projection is None
