"""The image path end to end with a tiny random CLIP written by the test: a folder of PNGs (or a
table naming them) -> `seals embed --embedder clip --weights DIR` -> a dataset recording the model
-> a project -> a concept created from a text query (embedded by the same model's text tower) ->
a batch. Real files, a real model, no mocks, nothing downloaded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.embedders.clip_support import write_images, write_tiny_clip
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.sessions.project import Project

pytest.importorskip("transformers")
pytest.importorskip("PIL")


def seals(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    return folder, write_images(folder)


def unit(matrix):
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def reference_features(clip_dir, texts=(), images=()):
    """What transformers itself computes for these texts and image files: the test's own oracle."""
    import torch
    import transformers
    from PIL import Image

    model = transformers.CLIPModel.from_pretrained(clip_dir, local_files_only=True).eval()
    processor = transformers.CLIPProcessor.from_pretrained(clip_dir, local_files_only=True)
    with torch.inference_mode():
        if texts:
            output = model.get_text_features(**processor.tokenizer(list(texts), padding=True, return_tensors="pt"))
        else:
            pictures = [Image.open(p).convert("RGB") for p in images]
            pixels = processor.image_processor(images=pictures, return_tensors="pt")
            output = model.get_image_features(**pixels)
    return getattr(output, "pooler_output", output).numpy()


def test_a_folder_of_images_becomes_a_text_queryable_dataset(tmp_path, clip_dir, photos):
    folder, paths = photos
    result = seals("embed", tmp_path / "ds", "--from", folder, "--embedder", "clip", "--weights", clip_dir)
    assert result.exit_code == 0, result.output
    assert "Loading weights" not in result.output and "torchvision" not in result.output
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["embedder"] == "clip" and meta["embedder_weights"] == str(clip_dir.resolve()) and meta["dim"] == 16
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.items["id"].tolist() == paths and dataset.items["uri"].tolist() == paths
    assert dataset.media_file(paths[0]) == (folder / paths[0]).resolve()
    expected = unit(reference_features(clip_dir, images=[folder / p for p in paths]))
    np.testing.assert_allclose(dataset.embeddings.vectors, expected, atol=1e-5)
    assert not (tmp_path / ".ds.embed-checkpoints").exists()

    with Project.init(tmp_path / "project", tmp_path / "ds") as project:
        query = unit(reference_features(clip_dir, texts=["red"])[0])
        np.testing.assert_allclose(project.query_vector("red"), query, atol=1e-5)  # the same model's text tower
        project.create_concept("red things", query="red", batch_size=4)
        batch = project.concept("red things").next_batch("ann")
    nearest = np.argsort(-(expected @ query), kind="stable")[:4]
    assert [item["id"] for item in batch["items"]] == [paths[i] for i in nearest]  # the query's nearest images


def test_a_table_of_image_paths_keeps_its_ids_labels_and_captions(tmp_path, clip_dir, photos):
    folder, paths = photos
    table = pd.DataFrame({
        "image_id": [f"img-{i}" for i in range(len(paths))], "image_path": [f"photos/{p}" for p in paths],
        "caption": [p.split("/")[0] + " shape" for p in paths], "label": [p.split("/")[0] for p in paths],
    })  # fmt: skip
    (tmp_path / "photos").symlink_to(folder)
    table.to_csv(tmp_path / "images.csv", index=False)
    result = seals(
        "embed", tmp_path / "ds", "--from", tmp_path / "images.csv", "--embedder", "clip", "--weights", clip_dir,
        "--label-column", "label",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.items["id"].tolist() == table["image_id"].tolist()
    assert dataset.items["text"].tolist() == table["caption"].tolist()
    assert [dataset.media_file(u).name for u in dataset.items["uri"]] == [p.split("/")[1] for p in paths]
    assert sorted(dataset.concept_names()) == ["blue", "red"]


def test_clip_retrieval_vectors_named_with_the_same_model_answer_text_queries(tmp_path, clip_dir, photos):
    folder, paths = photos
    vectors = reference_features(clip_dir, images=[folder / p for p in paths])
    out = tmp_path / "clip-out"  # the layout `clip-retrieval inference` writes
    for sub in ("img_emb", "metadata"):
        (out / sub).mkdir(parents=True)
    np.save(out / "img_emb" / "img_emb_0.npy", vectors.astype(np.float16))
    pd.DataFrame({"image_path": paths}).to_parquet(out / "metadata" / "metadata_0.parquet")
    result = seals("import", tmp_path / "wrong", "--from", out, "--embedder", "minilm")
    assert result.exit_code != 0 and "vectors have 16 values but all-MiniLM-L6-v2 makes 384" in result.output
    result = seals(
        "import", tmp_path / "ds", "--from", out, "--media-root", folder, "--embedder", "clip", "--weights", clip_dir
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Dataset.open(tmp_path / "ds").info.embedder_weights == str(clip_dir.resolve())
    with Project.init(tmp_path / "project", tmp_path / "ds") as project:
        project.create_concept("blue things", query="blue", batch_size=3)
        assert len(project.concept("blue things").next_batch("ann")["items"]) == 3


@pytest.mark.parametrize(
    "case, fragments",
    [
        ("no weights", ["clip embedder needs --weights DIR"]),
        ("missing weights", ["--weights", "does not exist"]),
        ("not a checkpoint", ["holds no config.json"]),
        ("broken image", ["broken.png: not a readable image"]),
        ("text embedder", ["a folder of images needs an image embedder (--embedder clip)"]),
        ("missing file", ["row 0: image 'gone.png' not found"]),
    ],
)
def test_bad_image_input_is_one_line_and_writes_nothing(tmp_path, clip_dir, photos, case, fragments):
    folder, _ = photos
    source, flags = folder, ["--embedder", "clip", "--weights", clip_dir]
    if case == "no weights":
        flags = ["--embedder", "clip"]
    elif case == "missing weights":
        flags = ["--embedder", "clip", "--weights", tmp_path / "nowhere"]
    elif case == "not a checkpoint":
        flags = ["--embedder", "clip", "--weights", tmp_path]
    elif case == "broken image":
        source = tmp_path / "images"
        write_images(source, per_colour=1)
        (source / "broken.png").write_bytes(b"not a png")
    elif case == "text embedder":
        flags = ["--embedder", "glove"]
    elif case == "missing file":
        source = tmp_path / "images.csv"
        pd.DataFrame({"path": ["gone.png"]}).to_csv(source, index=False)
    result = seals("embed", tmp_path / "ds", "--from", source, *flags)
    message = result.output.strip()
    assert result.exit_code != 0 and message.startswith("error:") and len(message.splitlines()) == 1, message
    assert all(fragment in message for fragment in fragments), message
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow  # 1,640 images through CLIP: ~15 s on 2 cores; the folder test covers the path fast
def test_the_digits_demo_embeds_its_pngs_with_clip_and_answers_text_queries(tmp_path, clip_dir):
    """`seals dataset digits --embedder clip`: the same PNG thumbnails, vectors from CLIP's image
    tower (equal to embedding the written files directly), and a text-seeded concept; the pixel
    embedding stays the default."""
    result = seals(
        "dataset", "digits", tmp_path / "digits", "--rare-digit", "7", "--rare-keep", "5", "--embedder", "clip",
        "--weights", clip_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "digits")
    assert dataset.info.embedder == "clip" and dataset.info.dim == 16
    assert dataset.media_dir == tmp_path / "digits" / "media"
    files = [dataset.media_file(uri) for uri in dataset.items["uri"][:8]]
    expected = unit(reference_features(clip_dir, images=files))
    np.testing.assert_allclose(dataset.embeddings.vectors[:8], expected, atol=1e-5)
    with Project.init(tmp_path / "project", tmp_path / "digits") as project:
        project.create_concept("sevens", query="a handwritten seven", batch_size=5)
        assert len(project.concept("sevens").next_batch("ann")["items"]) == 5
    assert seals("dataset", "digits", tmp_path / "pixels", "--rare-digit", "7", "--rare-keep", "5").exit_code == 0
    assert Dataset.open(tmp_path / "pixels").info.embedder.startswith("digits-pixels")
