"""Latent structure (paper §4.4): graph statistics on hand-made graphs with known answers, then the
whole measurement through a real Faiss index against a brute-force kNN graph, then the CLI."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.cli import app
from sealsearch.errors import InvalidParameterError, UnknownNameError
from sealsearch.experiments.latent import (
    LATENT_COLUMNS,
    knn_edges,
    largest_component_stats,
    latent_structure,
    summarize_latent,
)


def edges(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    src, dst = zip(*pairs, strict=True) if pairs else ((), ())
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)


def test_directed_chain_is_one_weak_component():
    # 0→1→2→3 has no strongly connected pair, but one weak component; undirected distances
    # 1,2,3,1,2,1 over the 6 unordered pairs.
    stats = largest_component_stats(4, *edges([(0, 1), (1, 2), (2, 3)]))
    assert stats.lc_size == 4
    assert stats.mean_path == pytest.approx(10 / 6)


def test_largest_of_two_components():
    stats = largest_component_stats(5, *edges([(0, 1), (2, 1), (3, 4)]))
    assert stats.lc_size == 3
    assert stats.mean_path == pytest.approx((1 + 2 + 1) / 3)


def test_star_and_duplicate_edges():
    # Leaves point at the centre, the centre at two leaves (both directions and a repeat are one link).
    stats = largest_component_stats(5, *edges([(1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (0, 2), (1, 0)]))
    assert stats.lc_size == 5
    assert stats.mean_path == pytest.approx((4 * 1 + 6 * 2) / 10)
    # An edge repeated past any small integer's range is still one link.
    many = largest_component_stats(3, *edges([(0, 1)] * 256 + [(1, 2)]))
    assert many.lc_size == 3 and many.mean_path == pytest.approx(4 / 3)


def test_no_edges_and_no_nodes():
    alone = largest_component_stats(3, *edges([]))
    assert alone.lc_size == 1 and math.isnan(alone.mean_path)
    empty = largest_component_stats(0, *edges([]))
    assert empty.lc_size == 0 and math.isnan(empty.mean_path)


def test_sampled_sources_on_a_cycle_are_exact():
    # Every node of a cycle sees the same distances, so a sample of sources gives the exact mean
    # n^2/4 / (n - 1) for even n.
    n = 600
    stats = largest_component_stats(n, np.arange(n), (np.arange(n) + 1) % n, max_sources=32)
    assert stats.lc_size == n
    assert stats.mean_path == pytest.approx(n * n / 4 / (n - 1))


def test_sampled_sources_estimate_the_exact_mean_reproducibly():
    rng = np.random.default_rng(3)
    n = 400
    src, dst = rng.integers(0, n, size=1200), rng.integers(0, n, size=1200)
    exact = largest_component_stats(n, src, dst, max_sources=n)
    sampled = largest_component_stats(n, src, dst, max_sources=60, seed=1)
    assert sampled == largest_component_stats(n, src, dst, max_sources=60, seed=1)
    assert sampled.lc_size == exact.lc_size
    assert sampled.mean_path == pytest.approx(exact.mean_path, rel=0.05)


def test_knn_edges_skip_missing_neighbours():
    src, dst = knn_edges(np.array([[1, -1], [2, 0], [-1, -1]]))
    assert list(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 1), (1, 2), (1, 0)]


def brute_force_stats(vectors: np.ndarray, pool: np.ndarray, positives: np.ndarray, k: int) -> tuple[int, float]:
    """Exact kNN by a full similarity scan, components by BFS on an undirected adjacency dict."""
    sims = vectors[positives] @ vectors[pool].T
    sims[pool[None, :] == positives[:, None]] = -np.inf
    nearest = pool[np.argsort(-sims, axis=1, kind="stable")[:, :k]]
    members = set(positives.tolist())
    links: dict[int, set[int]] = {int(p): set() for p in positives}
    for p, row in zip(positives.tolist(), nearest.tolist(), strict=True):
        for q in row:
            if q in members:
                links[p].add(q)
                links[q].add(p)

    def distances(start: int) -> dict[int, int]:
        seen, queue = {start: 0}, deque([start])
        while queue:
            node = queue.popleft()
            for nxt in links[node] - seen.keys():
                seen[nxt] = seen[node] + 1
                queue.append(nxt)
        return seen

    largest = max((distances(p) for p in links), key=len)
    size = len(largest)
    total = sum(sum(distances(p).values()) for p in largest)
    return size, (total / (size * (size - 1)) if size > 1 else math.nan)


def test_latent_structure_matches_brute_force(small_dataset):
    table = latent_structure(small_dataset, ["rare", "cluster0", "tiny"], [3, 8, 3], factory="Flat")
    assert list(table.columns) == LATENT_COLUMNS
    assert table[["concept", "k"]].values.tolist() == [
        ["rare", 3], ["rare", 8], ["cluster0", 3], ["cluster0", 8], ["tiny", 3], ["tiny", 8],
    ]  # fmt: skip
    vectors = small_dataset.embeddings.take(np.arange(small_dataset.info.n))
    pool = small_dataset.split_rows("pool")
    for row in table.itertuples():
        positives = small_dataset.rows_in_split(small_dataset.concept_rows(row.concept), "pool")
        size, mean_path = brute_force_stats(vectors, pool, positives, row.k)
        assert row.n_positive == positives.size
        assert row.lc_size == size
        assert row.lc_frac == pytest.approx(size / positives.size)
        assert row.mean_path == pytest.approx(mean_path, nan_ok=True)
    rare = table.loc[table["concept"] == "rare"]
    assert (rare["lc_frac"] > 0.5).all()  # the tight group is one component in its own neighbourhood


def test_smaller_k_is_a_slice_of_the_largest(small_dataset):
    both = latent_structure(small_dataset, ["cluster0"], [4, 12], factory="Flat")
    alone = latent_structure(small_dataset, ["cluster0"], [4], factory="Flat")
    pd.testing.assert_frame_equal(both.iloc[[0]].reset_index(drop=True), alone)


def test_summary_is_the_median_per_k():
    table = pd.DataFrame(
        {"concept": ["a", "b", "c", "a"], "k": [10, 10, 10, 100], "n_positive": [4, 6, 8, 4],
         "lc_size": [1, 3, 8, 4], "lc_frac": [0.25, 0.5, 1.0, 1.0], "mean_path": [math.nan, 2.0, 3.0, 1.5]}
    )  # fmt: skip
    summary = summarize_latent(table)
    assert summary["k"].tolist() == [10, 100]
    assert summary["lc_frac"].tolist() == [0.5, 1.0]
    assert summary["mean_path"].tolist() == [2.5, 1.5]


def test_bad_input_fails_before_building_an_index(tmp_path):
    dataset = make_dataset(tmp_path / "ds", n=300)
    with pytest.raises(UnknownNameError, match="unknown concept 'rar'.*did you mean 'rare'"):
        latent_structure(dataset, ["rare", "rar"], [5])
    for ks in ([0, 5], [-3], [], [dataset.split_rows("pool").size]):
        with pytest.raises(InvalidParameterError, match="k"):
            latent_structure(dataset, ["rare"], ks)
    with pytest.raises(InvalidParameterError, match="at least one concept"):
        latent_structure(dataset, [], [5])
    assert not any(dataset.index_dir.iterdir())


runner = CliRunner()


def test_cli_writes_the_table_and_the_cdf_plot(tmp_path):
    make_dataset(tmp_path / "ds", n=600)
    result = runner.invoke(app, ["analyze", str(tmp_path / "ds"), "--k", "5,20", "--concepts", "2",
                                 "--factory", "Flat", "--out", str(tmp_path / "results")])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "results" / "latent.parquet")
    assert list(table.columns) == LATENT_COLUMNS
    assert table["concept"].nunique() == 2 and sorted(table["k"].unique()) == [5, 20]
    assert (tmp_path / "results" / "latent_cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "LC %" in result.output and "path" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--k", "10,x"], "comma-separated values"), (["--k", "0"], "--k 0: out of range (allowed: 1.."),
     (["--k", "5", "--concept", "nope"], "unknown concept 'nope'")],
)  # fmt: skip
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    make_dataset(tmp_path / "ds", n=300)
    result = runner.invoke(app, ["analyze", str(tmp_path / "ds"), *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
