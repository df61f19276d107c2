"""`seals import --from`: one table, Parquet shards, clip-retrieval folders, .npy shards + metadata,
made as real files under tmp_path, imported through the CLI and checked through the library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data import sources
from sealsearch.data.dataset import Dataset
from sealsearch.data.id_map import first_duplicate
from sealsearch.data.importing import import_from

N, DIM = 50, 6


def seals(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def vectors(n=N, dim=DIM, dtype=np.float32, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, dim)) * 3).astype(dtype)


def unit(matrix: np.ndarray) -> np.ndarray:
    matrix = matrix.astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def table(matrix: np.ndarray, start: int = 0, fixed: bool = False, **extra) -> pa.Table:
    flat = pa.array(matrix.ravel())
    column = (
        pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])
        if fixed
        else pa.ListArray.from_arrays(pa.array(np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32)), flat)
    )
    rows = range(start, start + len(matrix))
    return pa.table({"id": [f"item-{i}" for i in rows], "text": [f"text {i}" for i in rows], "vector": column, **extra})


def write_shards(folder, matrix, sizes, name="part-{}.parquet", fixed=False):
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        pq.write_table(table(matrix[start : start + size], start, fixed), folder / name.format(i))
        start += size


def clip_folder(path, matrix, sizes, text=False):
    """clip-retrieval's `inference` layout: img_emb/img_emb_<i>.npy and metadata/metadata_<i>.parquet."""
    for sub in ("img_emb", "metadata") + (("text_emb",) if text else ()):
        (path / sub).mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        np.save(path / "img_emb" / f"img_emb_{i}.npy", matrix[start : start + size])
        if text:
            np.save(path / "text_emb" / f"text_emb_{i}.npy", -matrix[start : start + size])
        rows = range(start, start + size)
        pd.DataFrame(
            {"image_path": [f"img/{r}.jpg" for r in rows], "caption": [f"a photo {r}" for r in rows]}
        ).to_parquet(path / "metadata" / f"metadata_{i}.parquet")
        start += size
    return path


def test_one_table_with_id_text_vector_and_labels(tmp_path):
    matrix = vectors()
    labels = [["seal", "animal"] if i % 10 == 0 else ([] if i % 2 else None) for i in range(N)]
    pq.write_table(table(matrix, labels=pa.array(labels, pa.list_(pa.string()))), tmp_path / "t.parquet")
    result = seals("import", tmp_path / "ds", "--from", tmp_path / "t.parquet", "--label-column", "labels")
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "ds")
    np.testing.assert_allclose(dataset.embeddings.vectors, unit(matrix), atol=1e-6)
    assert dataset.items["id"].tolist() == [f"item-{i}" for i in range(N)]
    assert dataset.items["text"].iloc[3] == "text 3" and set(dataset.items["split"]) == {"pool"}
    assert dataset.concept_rows("seal").tolist() == list(range(0, N, 10))
    assert dataset.concept_rows("animal").tolist() == list(range(0, N, 10))


def test_a_string_label_column_and_column_overrides(tmp_path):
    matrix = vectors()
    frame = (
        table(matrix)
        .rename_columns(["sku", "blurb", "emb2"])
        .append_column("kind", pa.array(["rare" if i < 3 else "" for i in range(N)]))
    )
    pq.write_table(frame, tmp_path / "t.parquet")
    flags = ["--id-column", "sku", "--text-column", "blurb", "--vector-column", "emb2", "--label-column", "kind"]
    assert seals("import", tmp_path / "ds", "--from", tmp_path / "t.parquet", *flags).exit_code == 0
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.items["text"].iloc[1] == "text 1" and dataset.concept_rows("rare").tolist() == [0, 1, 2]


@pytest.mark.parametrize("how", ["folder", "glob"])
def test_parquet_shards_in_natural_order(tmp_path, how):
    matrix = vectors(n=60, dtype=np.float16)
    write_shards(tmp_path / "shards", matrix, [5] * 12, fixed=True)  # part-10 after part-9
    path = tmp_path / "shards" if how == "folder" else tmp_path / "shards" / "part-*.parquet"
    assert seals("import", tmp_path / "ds", "--from", path).exit_code == 0
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.info.dtype == "float16"  # float16 in, float16 on disk
    assert dataset.items["id"].tolist() == [f"item-{i}" for i in range(60)]
    np.testing.assert_allclose(dataset.embeddings.vectors.astype(np.float32), unit(matrix), atol=2e-3)


def test_small_batches_stream_across_shard_boundaries_with_progress(tmp_path, monkeypatch):
    """Batches of 7 rows over shards of 13 and metadata of other sizes give the same dataset."""
    monkeypatch.setattr(sources, "BATCH_ROWS", 7)
    matrix = vectors(n=52)
    for i, start in enumerate(range(0, 52, 13)):
        np.save(tmp_path / f"emb_{i}.npy", matrix[start : start + 13])
    meta = pd.DataFrame({"id": [f"m{i}" for i in range(52)], "split": ["test" if i % 4 else "pool" for i in range(52)]})
    meta.iloc[:30].to_parquet(tmp_path / "meta_0.parquet")
    meta.iloc[30:].to_parquet(tmp_path / "meta_1.parquet")
    calls = []
    dataset = import_from(
        tmp_path / "ds", tmp_path / "emb_*.npy", metadata=tmp_path / "meta_*.parquet",
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    np.testing.assert_allclose(dataset.embeddings.vectors, unit(matrix), atol=1e-6)
    assert dataset.items["id"].tolist() == meta["id"].tolist()
    assert dataset.items["split"].tolist() == meta["split"].tolist()
    assert calls[-1] == (52, 52) and [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) >= 8


def test_clip_retrieval_folder_with_media_root(tmp_path):
    matrix = vectors(n=40, dtype=np.float16)
    folder = clip_folder(tmp_path / "clip", matrix, [10, 10, 10, 10], text=True)
    (tmp_path / "media" / "img").mkdir(parents=True)
    (tmp_path / "media" / "img" / "3.jpg").write_bytes(b"jpeg")
    result = seals("import", tmp_path / "ds", "--from", folder)
    assert result.exit_code != 0 and "--modality" in result.output
    result = seals(
        "import", tmp_path / "ds", "--from", folder, "--modality", "image", "--media-root", tmp_path / "media"
    )
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.info.dtype == "float16" and dataset.info.n == 40
    assert dataset.items["id"].iloc[25] == "img/25.jpg" and dataset.items["text"].iloc[25] == "a photo 25"
    assert dataset.media_file(dataset.items["uri"].iloc[3]) == (tmp_path / "media" / "img" / "3.jpg").resolve()
    np.testing.assert_allclose(dataset.embeddings.vectors.astype(np.float32), unit(matrix), atol=2e-3)
    text = import_from(tmp_path / "text", folder, modality="text", dtype="float32")
    assert text.info.dtype == "float32"
    np.testing.assert_allclose(text.embeddings.vectors, -unit(matrix), atol=2e-3)


def test_npy_shards_without_metadata_number_the_rows(tmp_path):
    matrix = vectors(n=30)
    for i in range(3):
        np.save(tmp_path / f"v{i}.npy", matrix[i * 10 : (i + 1) * 10])
    dataset = import_from(tmp_path / "ds", tmp_path / "v*.npy")
    assert dataset.info.n == 30 and dataset.items["id"].tolist()[-1] == "29"


def refused(tmp_path, args, *fragments):
    result = seals("import", tmp_path / "out", *args)
    message = result.output.strip()
    assert result.exit_code != 0 and message.startswith("error:"), result.output
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_missing_and_ambiguous_columns_are_named(tmp_path):
    matrix = vectors()
    pq.write_table(table(matrix).drop(["id"]), tmp_path / "noid.parquet")
    refused(tmp_path, ["--from", tmp_path / "noid.parquet"], "no id column", "--id-column", "--row-ids")
    assert seals("import", tmp_path / "ok", "--from", tmp_path / "noid.parquet", "--row-ids").exit_code == 0
    pq.write_table(table(matrix).append_column("key", pa.array(range(N))), tmp_path / "two.parquet")
    refused(tmp_path, ["--from", tmp_path / "two.parquet"], "ambiguous id column", "['id', 'key']")
    both = table(matrix).rename_columns(["id", "text", "a"]).append_column("b", table(matrix).column("vector"))
    pq.write_table(both, tmp_path / "twovec.parquet")
    refused(tmp_path, ["--from", tmp_path / "twovec.parquet"], "vector column", "['a', 'b']", "--vector-column")
    pq.write_table(table(matrix).drop(["vector"]), tmp_path / "novec.parquet")
    refused(tmp_path, ["--from", tmp_path / "novec.parquet"], "no column holds a list of numbers")
    refused(tmp_path, ["--from", tmp_path / "noid.parquet", "--id-column", "sku"], "no column 'sku'", "['text'")


def test_ragged_nonfinite_and_mixed_dimensions_name_shard_and_row(tmp_path):
    ragged = pa.table({"id": ["a", "b", "c"], "vector": [[1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 0.0, 0.0]]})
    pq.write_table(ragged, tmp_path / "ragged.parquet")
    refused(tmp_path, ["--from", tmp_path / "ragged.parquet"], "ragged.parquet: row 1 has 2 values", "same dimension")
    matrix = vectors(n=30)
    matrix[17, 2] = np.nan
    write_shards(tmp_path / "nan", matrix, [10, 10, 10])
    refused(tmp_path, ["--from", tmp_path / "nan"], "part-1.parquet: row 7 contains NaN")
    shards = tmp_path / "nullid"
    write_shards(shards, vectors(n=30), [10, 10, 10])
    pq.write_table(
        table(vectors(n=10), 20).set_column(0, "id", pa.array([None, "b"] * 5, pa.string())), shards / "part-2.parquet"
    )
    refused(tmp_path, ["--from", shards], "part-2.parquet: row 0 has no id")
    write_shards(tmp_path / "mixed", vectors(n=20), [10, 10])
    pq.write_table(table(vectors(n=5, dim=DIM + 1), 20), tmp_path / "mixed" / "part-2.parquet")
    refused(tmp_path, ["--from", tmp_path / "mixed"], "part-2.parquet: row 0 has 7 values but the vectors have 6")
    np.save(tmp_path / "a.npy", vectors(n=5))
    np.save(tmp_path / "b.npy", vectors(n=5, dim=DIM + 2))
    refused(tmp_path, ["--from", tmp_path / "[ab].npy"], "b.npy: dimension 8", "a.npy has 6")


def test_duplicate_ids_are_named_in_one_table_and_across_shards(tmp_path):
    frame = table(vectors()).to_pandas()
    frame.loc[7, "id"] = "item-3"
    frame.to_parquet(tmp_path / "dup.parquet")
    refused(tmp_path, ["--from", tmp_path / "dup.parquet"], "id 'item-3' appears twice", "row 3 and", "row 7")
    write_shards(tmp_path / "shards", vectors(n=30), [10, 10, 10])
    pq.write_table(table(vectors(n=10), 5), tmp_path / "shards" / "part-2.parquet")  # item-5..14 again
    refused(tmp_path, ["--from", tmp_path / "shards"], "id 'item-5' appears twice", "part-0.parquet row 5", "part-2")
    items = pd.DataFrame({"id": ["x", "y", "x"]})
    items.to_parquet(tmp_path / "items.parquet")
    np.save(tmp_path / "X.npy", vectors(n=3))
    args = ["--embeddings", tmp_path / "X.npy", "--items", tmp_path / "items.parquet"]
    refused(tmp_path, args, "items: id 'x' appears twice (row 0 and row 2)")


def test_hash_collisions_are_not_duplicates():
    ids = np.array(["a", "b", "c", "b"], dtype=object)
    assert first_duplicate(np.array([1, 1, 2, 3], dtype=np.uint64), lambda rows: ids[rows]) is None
    assert first_duplicate(np.array([1, 5, 2, 5], dtype=np.uint64), lambda rows: ids[rows]) == (1, 3)
    ids = np.array(["a", "b", "a", "c"], dtype=object)  # all four collide: the two a's are not neighbours
    assert first_duplicate(np.zeros(4, dtype=np.uint64), lambda rows: ids[rows]) == (0, 2)


def test_shard_files_that_disagree_are_named(tmp_path):
    folder = clip_folder(tmp_path / "clip", vectors(n=30, dtype=np.float16), [10, 10, 10])
    pd.DataFrame({"image_path": [f"x{i}" for i in range(9)], "caption": "c"}).to_parquet(
        folder / "metadata" / "metadata_1.parquet"
    )
    refused(tmp_path, ["--from", folder], "img_emb_1.npy: 10 vectors", "metadata_1.parquet has 9 rows")
    (folder / "metadata" / "metadata_2.parquet").unlink()
    refused(tmp_path, ["--from", folder], "shard 2 has no file in metadata/")
    np.save(tmp_path / "v.npy", vectors(n=10))
    pd.DataFrame({"id": [f"i{i}" for i in range(11)]}).to_parquet(tmp_path / "meta.parquet")
    refused(tmp_path, ["--from", tmp_path / "v.npy", "--metadata", tmp_path / "meta.parquet"], "11 metadata rows")


def test_zero_byte_npy_is_one_line_not_aborted(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    refused(tmp_path, ["--from", tmp_path / "empty.npy"], "empty.npy: not a readable .npy matrix (empty file)")
    refused(tmp_path, ["--embeddings", tmp_path / "empty.npy"], "empty.npy: not a readable .npy matrix (empty file)")


def test_flags_that_do_not_go_together(tmp_path):
    pq.write_table(table(vectors()), tmp_path / "t.parquet")
    refused(tmp_path, [], "exactly one of --from")
    refused(tmp_path, ["--from", tmp_path / "t.parquet", "--pca", "3"], "--pca goes with --embeddings")
    refused(tmp_path, ["--from", tmp_path / "t.parquet", "--modality", "text"], "clip-retrieval folders")
    refused(tmp_path, ["--from", tmp_path / "t.parquet", "--media-root", tmp_path], "no uri column")
