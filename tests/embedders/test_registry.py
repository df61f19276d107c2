"""Embedders known by name and alias: `seals import --embedder` takes a registry name, an alias or
"unknown" (the default), checks it against the vectors, records it, and a text query on a dataset
whose vectors came from elsewhere says what to do in words a non-Python user reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.embedders import EMBEDDERS, Embedder, register_embedder, resolve_embedder
from sealsearch.embedders.glove import embed_texts
from sealsearch.errors import InvalidParameterError
from sealsearch.sessions.project import Project

WORDS = ["harbor seal", "grey seal", "walrus", "sea lion", "kitchen knife", "cutting board", "frying pan", "ladle"]


def seals(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def glove_vectors(tmp_path):
    """Raw mean-GloVe vectors of a few words (50-d), as an embedding tool would export them."""
    path = tmp_path / "vectors.npy"
    np.save(path, embed_texts(WORDS * 4))
    return path


def test_names_and_aliases_resolve_to_one_entry():
    assert resolve_embedder("minilm") is resolve_embedder("all-MiniLM-L6-v2") is EMBEDDERS["all-MiniLM-L6-v2"]
    assert resolve_embedder("glove").name == "glove-6B-50d-mean"
    assert resolve_embedder(None).name == resolve_embedder("imported").name == "unknown"  # old datasets
    with pytest.raises(InvalidParameterError, match="already registered"):
        register_embedder(Embedder("my-model", None, aliases=("glove",)))
    assert "my-model" not in EMBEDDERS


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--embedder", "bert"], ["unknown embedder 'bert'", "glove, minilm, clip, unknown"]),
        (["--embedder", "minlm"], ["did you mean 'minilm'"]),
        (["--embedder", "minilm"], ["vectors have 50 values but all-MiniLM-L6-v2 makes 384"]),
        (["--embedder", "clip"], ["clip embedder needs --weights DIR"]),
        (["--embedder", "clip", "--weights", "nowhere"], ["--weights nowhere: does not exist"]),
        (["--embedder", "glove", "--weights", "."], ["--weights goes with", "clip"]),
    ],
)
def test_a_wrong_embedder_is_one_line_and_writes_nothing(tmp_path, glove_vectors, flags, fragments):
    result = seals("import", tmp_path / "ds", "--embeddings", glove_vectors, *flags)
    message = result.output.strip()
    assert result.exit_code != 0 and message.startswith("error:") and len(message.splitlines()) == 1, message
    assert all(fragment in message for fragment in fragments), message
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("name", ["glove", "glove-6B-50d-mean"])
def test_an_alias_or_a_name_makes_the_vectors_text_queryable(tmp_path, glove_vectors, name):
    result = seals("import", tmp_path / "ds", "--embeddings", glove_vectors, "--embedder", name)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["embedder"] == "glove-6B-50d-mean"
    with Project.init(tmp_path / "p", tmp_path / "ds") as project:
        project.create_concept("seals", query="seal")
        batch = project.concept("seals").next_batch("ann")
        rows = project.rows_of([item["id"] for item in batch["items"]])
    assert set(np.asarray(WORDS * 4)[rows[:2]]) <= {"harbor seal", "grey seal"}  # the query's nearest first


def _text_query_error(tmp_path, dataset_dir) -> str:
    with Project.init(tmp_path / "p", dataset_dir) as project, pytest.raises(InvalidParameterError) as error:
        project.create_concept("seals", query="seal")
    return str(error.value)


def test_no_embedder_means_unknown_and_the_text_query_says_what_to_do(tmp_path, glove_vectors):
    result = seals("import", tmp_path / "ds", "--embeddings", glove_vectors)
    assert result.exit_code == 0, result.output
    assert Dataset.open(tmp_path / "ds").info.embedder == "unknown"
    assert "Left out: unknown" in " ".join(seals("import", "--help").output.replace("│", " ").split())
    message = _text_query_error(tmp_path, tmp_path / "ds")
    assert "an unknown model" in message and "seals import ... --embedder NAME" in message, message
    assert "glove, minilm, clip" in message and "item ids" in message and "more like this" in message
    assert "positives=" not in message and "like=ID" not in message and "\n" not in message  # no Python words


def test_an_old_dataset_recording_imported_still_opens_as_unknown(tmp_path, glove_vectors):
    assert seals("import", tmp_path / "ds", "--embeddings", glove_vectors).exit_code == 0
    meta = tmp_path / "ds" / "dataset.json"
    old = json.loads(meta.read_text())
    old["embedder"] = "imported"
    del old["embedder_weights"]  # written before the field existed
    meta.write_text(json.dumps(old))
    assert Dataset.open(tmp_path / "ds").info.embedder_weights is None
    assert "an unknown model" in _text_query_error(tmp_path, tmp_path / "ds")
