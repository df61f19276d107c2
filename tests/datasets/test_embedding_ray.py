"""Embedding with Ray Data (`seals embed|dataset wordnet ... --executor ray`): a real local Ray runs
`embed_batch` on the same chunks as the local loop, and the dataset written is the local one."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
from test_wordnet import write_wordnet
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.embedding import checkpoint_dir
from sealsearch.datasets.texts import embed_text_table
from sealsearch.datasets.wordnet import build_wordnet_dataset
from sealsearch.embedders import GloveQueryEmbedder
from sealsearch.errors import MissingExtraError

TEXTS = [
    "red wool sweater with a round neck", "blue denim jeans, slim fit", "leather hiking boots, waterproof",
    "cotton t-shirt in white", "stainless steel kitchen knife", "wooden cutting board for the kitchen",
    "running shoes with a light sole",
]  # fmt: skip


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "products.csv"
    split = ["test" if i == 6 else "pool" for i in range(len(TEXTS))]
    pd.DataFrame({"sku": [f"P{i}" for i in range(len(TEXTS))], "text": TEXTS, "split": split}).to_csv(path, index=False)
    return path


def same_dataset(a: Dataset, b: Dataset) -> None:
    """Bit-identical vectors and the same tables and dataset.json (but for the name)."""
    np.testing.assert_array_equal(np.asarray(a.embeddings.vectors), np.asarray(b.embeddings.vectors))
    pd.testing.assert_frame_equal(a.items, b.items)
    info = [json.loads((d.path / "dataset.json").read_text()) | {"name": ""} for d in (a, b)]
    assert info[0] == info[1]


def test_embedding_on_ray_writes_the_local_dataset(texts_file, tmp_path, local_ray):
    local = embed_text_table(tmp_path / "local", texts_file, chunk_texts=2)
    on_ray = embed_text_table(tmp_path / "ray", texts_file, chunk_texts=2, executor="ray")  # 4 batches of <= 2
    same_dataset(on_ray, local)
    assert not checkpoint_dir(tmp_path / "ray").exists()
    result = CliRunner().invoke(app, ["embed", str(tmp_path / "cli"), "--from", str(texts_file), "--executor", "ray"])
    assert result.exit_code == 0, result.output
    same_dataset(Dataset.open(tmp_path / "cli"), local)


def test_a_local_run_interrupted_resumes_on_ray_from_its_checkpoints(texts_file, tmp_path, monkeypatch, local_ray):
    real, calls = GloveQueryEmbedder.embed, []

    def flaky(self, texts):  # patched in this process only: Ray workers embed with the real one
        calls.append(texts)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, texts)

    monkeypatch.setattr(GloveQueryEmbedder, "embed", flaky)
    with pytest.raises(KeyboardInterrupt):
        embed_text_table(tmp_path / "ds", texts_file, chunk_texts=2)
    saved = sorted(checkpoint_dir(tmp_path / "ds").glob("*.npy"))
    assert len(saved) == 2 and not (tmp_path / "ds").exists()
    np.save(saved[1], np.full((2, 50), 7, dtype=np.float32))  # a marker: the resumed run must read it from disk
    dataset = embed_text_table(tmp_path / "ds", texts_file, chunk_texts=2, executor="ray")
    np.testing.assert_allclose(dataset.embeddings.vectors[2:4], 50**-0.5, rtol=1e-6)  # the marker, normalised
    monkeypatch.undo()
    local = embed_text_table(tmp_path / "local", texts_file, chunk_texts=2)
    keep = [0, 1, 4, 5, 6]
    np.testing.assert_array_equal(dataset.embeddings.vectors[keep], local.embeddings.vectors[keep])


def test_wordnet_on_ray_is_the_local_build(tmp_path, local_ray):
    wordnet_dir = write_wordnet(tmp_path / "wn")
    settings = {"wordnet_dir": wordnet_dir, "min_members": 3, "max_members": 5}
    local = build_wordnet_dataset(tmp_path / "local", **settings)
    on_ray = build_wordnet_dataset(tmp_path / "ray", executor="ray", **settings)
    same_dataset(on_ray, local)
    concepts = [pd.read_parquet(d.path / "concepts.parquet") for d in (on_ray, local)]
    pd.testing.assert_frame_equal(*concepts)
    result = CliRunner().invoke(app, ["dataset", "wordnet", str(tmp_path / "cli"), "--wordnet-dir", str(wordnet_dir),
                                      "--executor", "ray"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Dataset.open(tmp_path / "cli").info.n == local.info.n


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="needs the text extra")
def test_minilm_on_ray_matches_local(texts_file, tmp_path, local_ray):
    local = embed_text_table(tmp_path / "local", texts_file, embedder="minilm", chunk_texts=3)
    on_ray = embed_text_table(tmp_path / "ray", texts_file, embedder="minilm", chunk_texts=3, executor="ray")
    # Same batches, same model; a worker's torch may run another thread count, so float rounding may differ.
    np.testing.assert_allclose(on_ray.embeddings.vectors, local.embeddings.vectors, atol=1e-5)
    pd.testing.assert_frame_equal(on_ray.items, local.items)


@pytest.mark.parametrize("module", ["ray", "ray.data"])
def test_ray_missing_is_one_line_naming_the_extra(texts_file, tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"pip install 'sealsearch\[ray\]'") as exc:
        embed_text_table(tmp_path / "ds", texts_file, executor="ray")
    assert "\n" not in str(exc.value) and not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "flags, fragment",
    [(["--executor", "spark"], "unknown executor 'spark'"), (["--address", "auto"], "add --executor ray")],
)
def test_bad_executor_flags_are_one_line_and_write_nothing(texts_file, tmp_path, flags, fragment):
    result = CliRunner().invoke(app, ["embed", str(tmp_path / "ds"), "--from", str(texts_file), *flags])
    message = result.output.strip()
    assert result.exit_code == 2 and message.startswith("error:") and len(message.splitlines()) == 1, message
    assert fragment in message and not (tmp_path / "ds").exists()
