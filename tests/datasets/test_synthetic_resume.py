"""Streamed, resumable synthetic generation and float16 storage: real files, a real interrupted run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sealsearch.datasets.synthetic as synthetic
from sealsearch.data.dataset import Dataset
from sealsearch.data.scan import score_rows
from sealsearch.datasets.synthetic import build_synthetic_dataset
from sealsearch.experiments.simulate import RunConfig, run

ARGS = {"n": 30_000, "dim": 16, "n_concepts": 4, "prevalence": (0.004, 0.008), "seed": 5, "dtype": "float16"}
FILES = ("embeddings.npy", "items.parquet", "concepts.parquet", "concept_meta.parquet")


class Boom(RuntimeError):
    pass


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of one unit (4,096 rows) and a checkpoint every two, so 30k rows make 8 blocks."""
    monkeypatch.setattr(synthetic, "WRITE_UNITS", 1)
    monkeypatch.setattr(synthetic, "CHECKPOINT_ROWS", 2 * synthetic.UNIT_ROWS)


class Interrupter:
    """Replaces the plan's `rows`: records the starts asked for and raises once `limit` calls were served."""

    def __init__(self, monkeypatch):
        self.real, self.starts, self.limit = synthetic.SyntheticPlan.rows, [], None
        monkeypatch.setattr(synthetic.SyntheticPlan, "rows", lambda plan, start, stop: self(plan, start, stop))

    def arm(self, limit: int | None) -> Interrupter:
        self.starts, self.limit = [], limit
        return self

    def __call__(self, plan, start: int, stop: int) -> np.ndarray:
        if self.limit is not None and len(self.starts) >= self.limit:
            raise Boom("killed between blocks")
        self.starts.append(start)
        return self.real(plan, start, stop)


def test_an_interrupted_run_resumes_from_its_last_checkpoint_to_the_same_bytes(tmp_path, monkeypatch, small_blocks):
    whole = build_synthetic_dataset(tmp_path / "whole", **ARGS)
    out, rows = tmp_path / "resumed", Interrupter(monkeypatch).arm(5)
    with pytest.raises(Boom):
        build_synthetic_dataset(out, **ARGS)  # blocks 0..4 written; checkpoints after blocks 2 and 4
    partial = tmp_path / ".resumed.partial"
    assert not out.exists() and json.loads((partial / "progress.json").read_text())["rows"] == 4 * synthetic.UNIT_ROWS
    rows.arm(None)
    resumed = build_synthetic_dataset(out, **ARGS)
    assert rows.starts[0] == 4 * synthetic.UNIT_ROWS  # the first four blocks were not generated again
    assert not partial.exists()
    for name in FILES:
        assert (resumed.path / name).read_bytes() == (whole.path / name).read_bytes(), name
    described = [json.loads((d.path / "dataset.json").read_text()) | {"name": ""} for d in (resumed, whole)]
    assert described[0] == described[1]


def test_a_partial_with_other_arguments_or_a_short_file_starts_afresh(tmp_path, monkeypatch, small_blocks):
    out, rows = tmp_path / "ds", Interrupter(monkeypatch).arm(3)
    with pytest.raises(Boom):
        build_synthetic_dataset(out, **ARGS)
    with open(tmp_path / ".ds.partial" / "embeddings.npy", "r+b") as file:  # rows that never reached the disk
        file.truncate(1000)
    rows.arm(None)
    build_synthetic_dataset(out, **ARGS)
    assert rows.starts[0] == 0
    rows.arm(3)
    with pytest.raises(Boom):
        build_synthetic_dataset(tmp_path / "other", **ARGS)
    rows.arm(None)
    build_synthetic_dataset(tmp_path / "other", **{**ARGS, "seed": 6})
    assert rows.starts[0] == 0  # another dataset: the partial one is not continued


def test_float16_datasets_are_scored_in_float32_and_run_end_to_end(tmp_path):
    half = build_synthetic_dataset(tmp_path / "half", **{**ARGS, "n": 6_000})
    full = build_synthetic_dataset(tmp_path / "full", **{**ARGS, "n": 6_000, "dtype": "float32"})
    stored = np.load(half.path / "embeddings.npy")
    assert stored.dtype == np.float16 and half.info.dtype == "float16"
    np.testing.assert_allclose(stored.astype(np.float32), np.load(full.path / "embeddings.npy"), atol=1e-3)
    dataset = Dataset.open(half.path)
    direction = dataset.embeddings.take([7])[0]
    assert dataset.embeddings.take([7]).dtype == np.float32
    scores = score_rows(dataset.embeddings, None, lambda vectors: vectors @ direction)
    np.testing.assert_allclose(scores, stored.astype(np.float32) @ direction, rtol=1e-6, atol=1e-6)
    concept = dataset.concept_names()[0]
    for pool in ("seals", "all"):
        config = RunConfig(
            concept=concept, strategy="maxent", pool=pool, k=10, budget=160, batch_size=20, factory="Flat"
        )
        rounds = run(dataset, config).rounds
        assert rounds["n_labeled"].iloc[-1] == 160 and rounds["recall"].iloc[-1] > 0


@pytest.mark.slow
def test_a_sigkilled_cli_run_resumes_to_the_same_bytes(tmp_path):
    """A real `seals dataset synthetic` process, SIGKILLed once its first checkpoint is on disk."""
    import signal
    import subprocess
    import time

    from crash_support import child_env, seals_command

    n = 3 * synthetic.CHECKPOINT_ROWS + 1_000
    args = ["--n", n, "--dim", 8, "--concepts", 3, "--prevalence", "0.001..0.002", "--dtype", "float16"]
    progress = tmp_path / ".killed.partial" / "progress.json"
    child = subprocess.Popen(seals_command("dataset", "synthetic", tmp_path / "killed", *args), env=child_env())
    deadline = time.monotonic() + 120
    while not progress.is_file() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert progress.is_file() and not (tmp_path / "killed").exists(), "killed too late: make n larger"
    assert json.loads(progress.read_text())["rows"] < n
    mark = np.eye(8, dtype=np.float16)[0]
    kept = np.load(progress.with_name("embeddings.npy"), mmap_mode="r+")
    kept[0] = mark  # on a checkpointed row: the rerun must keep it, not generate it again
    kept.flush()
    del kept
    for out in ("killed", "whole"):
        done = subprocess.run(
            seals_command("dataset", "synthetic", tmp_path / out, *args), env=child_env(), timeout=300
        )
        assert done.returncode == 0
    resumed, whole = (np.load(tmp_path / out / "embeddings.npy") for out in ("killed", "whole"))
    np.testing.assert_array_equal(resumed[0], mark)
    np.testing.assert_array_equal(resumed[1:], whole[1:])
    for name in FILES[1:]:
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
