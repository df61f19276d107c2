"""`seals dataset digits`: real images on disk, readable PNGs, uris under the media root."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.digits import build_digits_dataset, png_gray, render
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "digits"
    result = CliRunner().invoke(app, ["dataset", "digits", str(out)])
    assert result.exit_code == 0, result.output
    return Dataset.open(out)


def test_every_image_is_a_png_under_the_media_root_showing_its_digit(digits):
    source = load_digits()
    assert digits.info.n == 1797 and digits.info.dim == 64
    assert json.loads((digits.path / "dataset.json").read_text())["media_root"] == "media"
    items = digits.items
    assert items["id"].is_unique and set(items["split"]) == {"pool", "test"}
    files = [digits.media_file(uri) for uri in items["uri"]]
    assert all(path.is_relative_to(digits.media_dir) for path in files)
    for row in (0, 5, 1796):
        picture = mpimg.imread(files[row])  # matplotlib reads the PNG back as floats in 0..1
        assert picture.shape == (64, 64)
        expected = 1 - source.images[row] / 16  # dark ink on white, each pixel an 8×8 block
        assert np.allclose(picture[::8, ::8], expected, atol=1 / 255)
    assert items["text"].iloc[123] == "digit image 123"


def test_concepts_are_the_ten_digits_with_test_positives(digits):
    counts = digits.concept_counts().set_index("concept")
    assert list(counts.index) == [f"digit-{d}" for d in range(10)]
    assert counts.sum().sum() == 1797 and (counts["test"] > 30).all()
    rows = digits.concept_rows("digit-3")
    assert (load_digits().target[rows] == 3).all()


def test_embedding_is_the_unit_pixel_vector_and_neighbours_share_the_digit(digits):
    pixels = load_digits().data
    vectors = digits.embeddings.take(np.arange(1797))
    assert np.allclose(vectors, pixels / np.linalg.norm(pixels, axis=1, keepdims=True), atol=1e-6)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    target = load_digits().target
    assert (target[sims.argmax(axis=1)] == target).mean() > 0.95


def test_rare_digit_keeps_only_a_few_of_its_images(tmp_path):
    dataset = build_digits_dataset(tmp_path / "rare", rare_digit=7, rare_keep=18)
    assert dataset.concept_rows("digit-7").size == 18
    assert dataset.info.n == 1797 - 179 + 18
    assert (dataset.items["uri"].map(lambda uri: dataset.media_file(uri).is_file())).all()
    with pytest.raises(InvalidParameterError, match="rare_keep"):
        build_digits_dataset(tmp_path / "bad", rare_digit=7, rare_keep=1000)
    assert not (tmp_path / "bad").exists()


def test_media_outside_the_root_or_missing_is_refused(digits, small_dataset):
    with pytest.raises(InvalidDataError, match="outside the media root"):
        digits.media_file("../dataset.json")
    with pytest.raises(MissingFileError, match="not found"):
        digits.media_file("nope.png")
    with pytest.raises(MissingFileError, match="no media_root"):
        small_dataset.media_file("x.png")
    assert small_dataset.info.media_root is None  # datasets written before the field still open


def test_png_writer_round_trips(tmp_path):
    picture = render(np.arange(64).reshape(8, 8) % 17)
    (tmp_path / "x.png").write_bytes(png_gray(picture))
    assert np.array_equal(np.round(mpimg.imread(tmp_path / "x.png") * 255).astype(np.uint8), picture)
