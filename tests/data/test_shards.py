"""Scans as Ray tasks (`seals predict --executor ray`, the All pool): a real local Ray scores shards
of the embeddings file with the local block loop, and every score equals the local scan's."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.pools import make_pool
from sealsearch.active.predict import predict_top
from sealsearch.cli import app
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.shards import Scanner
from sealsearch.errors import InvalidParameterError, MissingExtraError, UnknownNameError
from sealsearch.experiments.simulate import RunConfig, run

BLOCK = 64
"""Rows per block in these tests: the 1,500-row dataset becomes 24 blocks, in shards of 3."""


@pytest.fixture(scope="module")
def labels_file(small_dataset, tmp_path_factory):
    config = RunConfig(concept="rare", strategy="maxent", pool="seals", k=10, budget=80, batch_size=20, seed_pos=2,
                       neg_ratio=9, factory="Flat")  # fmt: skip
    return run(small_dataset, config).save(tmp_path_factory.mktemp("run") / "rare.parquet")[1]


@pytest.fixture(scope="module")
def model(small_dataset, labels_file):
    labels = pd.read_parquet(labels_file)
    return fit_learner(default_learner(), small_dataset.embeddings.take(labels["row"]), labels["label"].to_numpy())


def test_ray_shards_score_every_row_exactly_as_the_local_scan(small_dataset, model, local_ray):
    store = small_dataset.embeddings
    score = lambda vectors: positive_proba(model, vectors)  # noqa: E731 (pickled by value into the tasks)
    local = Scanner(block=BLOCK).score_rows(store, None, score)
    seen = []
    on_ray = Scanner("ray", shard_blocks=3, block=BLOCK).score_rows(
        store, None, score, progress=lambda done, total: seen.append((done, total))
    )
    np.testing.assert_array_equal(on_ray, local)
    assert len(seen) == 8 and seen[-1] == (store.n, store.n)  # 24 blocks in 8 shards, reported as each lands
    # A subset (the All pool's candidates): dense stretches and scattered rows, aligned with `rows`.
    rows = np.sort(np.concatenate([np.arange(100, 700), np.random.default_rng(0).choice(store.n, 90, replace=False)]))
    subset = Scanner("ray", shard_blocks=2, block=BLOCK).score_rows(store, rows, score)
    np.testing.assert_array_equal(subset, Scanner(block=BLOCK).score_rows(store, rows, score))
    # Against the whole-store scan only float32 rounding differs: other rows share each product.
    np.testing.assert_allclose(subset, local[rows], rtol=1e-5)


def test_predict_on_ray_equals_predict_local(small_dataset, labels_file, local_ray, tmp_path):
    local = predict_top(small_dataset, labels_file, top=40, scanner=Scanner(block=BLOCK))
    on_ray = predict_top(small_dataset, labels_file, top=40, scanner=Scanner("ray", shard_blocks=1, block=BLOCK))
    pd.testing.assert_frame_equal(on_ray, local)
    out = tmp_path / "top.parquet"
    result = CliRunner().invoke(app, ["predict", str(small_dataset.path), "--labels", str(labels_file), "--top", "40",
                                      "--executor", "ray", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(out), local, check_dtype=False)  # parquet: string ids


def test_the_all_pool_scans_its_candidates_on_ray(small_dataset, model, local_ray):
    pool_rows = small_dataset.split_rows("pool")
    pools = [make_pool("all", small_dataset.embeddings, pool_rows, scanner=s)
             for s in (Scanner(block=BLOCK), Scanner("ray", shard_blocks=4, block=BLOCK))]  # fmt: skip
    for pool in pools:
        pool.update(pool_rows[:50])  # labeled rows leave the candidates: the subset path
    scores = [pool.score_candidates(lambda vectors: positive_proba(model, vectors)) for pool in pools]
    assert scores[0].size == pool_rows.size - 50
    np.testing.assert_array_equal(scores[1], scores[0])


def test_bad_settings_are_one_line_errors(small_dataset, tmp_path):
    with pytest.raises(UnknownNameError, match="executor 'rya'.*local, ray"):
        Scanner("rya")
    with pytest.raises(InvalidParameterError, match="^address auto.*add executor ray"):
        Scanner(address="auto")
    with pytest.raises(InvalidParameterError, match="shard_blocks must be positive"):
        Scanner("ray", shard_blocks=0)
    in_memory = EmbeddingStore(np.eye(4, dtype=np.float32))
    with pytest.raises(InvalidParameterError, match="by path.*in memory"):
        Scanner("ray").score_rows(in_memory, None, lambda v: v[:, 0])
    result = CliRunner().invoke(app, ["predict", str(small_dataset.path), "--model", str(tmp_path / "m.joblib"),
                                      "--executor", "spark"])  # fmt: skip
    assert result.exit_code == 2 and "unknown executor 'spark'" in result.output


def test_ray_missing_is_one_line_naming_the_extra(small_dataset, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sealsearch\[ray\]'") as exc:
        Scanner("ray").score_rows(small_dataset.embeddings, None, lambda v: v[:, 0])
    assert "\n" not in str(exc.value)


def test_ray_is_imported_only_when_a_ray_path_runs():
    """The modules that offer `--executor ray` load without it (the extra is optional)."""
    import subprocess

    code = (
        "import sys, sealsearch.data.shards, sealsearch.datasets.embedding, sealsearch.datasets.texts, "
        "sealsearch.datasets.wordnet, sealsearch.active.predict, sealsearch.experiments.grid; "
        "print('ray' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_seals_run_all_pool_on_ray_gives_the_local_rounds(small_dataset, local_ray, tmp_path, monkeypatch):
    """`seals run --pool all --executor ray`: every round's candidates scored by Ray tasks, and the
    run (batches, AP, recall) is the local one."""
    on_ray = []
    scan = Scanner._on_ray
    monkeypatch.setattr(Scanner, "_on_ray", lambda self, *args: on_ray.append(1) or scan(self, *args))
    outs = {}
    for executor in ("local", "ray"):
        outs[executor] = tmp_path / f"{executor}.parquet"
        result = CliRunner().invoke(app, ["run", str(small_dataset.path), "--concept", "rare", "--pool", "all",
                                          "--budget", "80", "--batch", "20", "--seed-pos", "2", "--neg-ratio", "9",
                                          "--executor", executor, "--out", str(outs[executor])])  # fmt: skip
        assert result.exit_code == 0, result.output
    runs = {e: pd.read_parquet(path) for e, path in outs.items()}
    same = [c for c in runs["local"].columns if not c.startswith("t_")]
    pd.testing.assert_frame_equal(runs["ray"][same], runs["local"][same])
    labels = {e: pd.read_parquet(path.with_suffix(".labels.parquet")) for e, path in outs.items()}
    pd.testing.assert_frame_equal(labels["ray"], labels["local"])
    assert len(on_ray) == len(runs["ray"]) - 1  # the ray run scanned on Ray every round but the last
