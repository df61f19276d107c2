"""The milvus index backend (`sealsearch[milvus]`) on real milvus-lite databases under tmp_path:
the same answers as Faiss `Flat` for an exact index type, the whole SEALS loop and a labeling
project unchanged, and the URI forms (a local .db, an http:// server)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import make_dataset
from sealsearch.active.knn import open_or_build_index
from sealsearch.errors import InvalidParameterError, MissingExtraError, UnknownNameError
from sealsearch.experiments.simulate import RunConfig, run
from sealsearch.index import build_index, load_index
from sealsearch.index.milvus import index_spec

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install 'sealsearch[milvus]')")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("milvus") / "ds")


@pytest.fixture(scope="module")
def indexes(dataset):
    return open_or_build_index(dataset, "Flat"), open_or_build_index(dataset, "Flat", backend="milvus")


def assert_same_neighbours(ids_a, sims_a, ids_b, sims_b, tol=1e-5):
    """Equal similarities; ids equal except where neighbouring similarities tie."""
    np.testing.assert_allclose(sims_a, sims_b, atol=tol)
    for row_a, row_b, sims in zip(ids_a, ids_b, sims_a, strict=True):
        differ = row_a != row_b
        if differ.any():  # only a tie may reorder: the differing ranks share a similarity with a neighbour
            tied = np.isclose(sims[differ][:, None], sims[None, :], atol=tol).sum(axis=1) > 1
            assert tied.all() and set(row_a) == set(row_b)


def test_flat_on_milvus_lite_answers_like_faiss_flat(dataset, indexes):
    faiss_flat, milvus_flat = indexes
    assert milvus_flat.describe() == "milvus:Flat" and milvus_flat.ivf_lists() is None
    np.testing.assert_array_equal(milvus_flat.rows, faiss_flat.rows)
    pool = dataset.split_rows("pool")
    queries = dataset.embeddings.take(pool[:40])
    for exclude in (None, pool[:40]):
        assert_same_neighbours(*faiss_flat.search(queries, 25, exclude), *milvus_flat.search(queries, 25, exclude))
    ids, _ = milvus_flat.search(queries, 25, pool[:40])
    assert not (ids == pool[:40, None]).any()  # a query never finds itself
    ids, sims = milvus_flat.search(queries[:2], len(pool) + 5)  # more than the index holds: padded
    assert (ids[:, -5:] == -1).all() and np.isneginf(sims[:, -5:]).all()


def test_saved_index_reopens_and_a_missing_collection_is_rebuilt(dataset, indexes):
    _, milvus_flat = indexes
    path = dataset.index_dir / "milvus-Flat"
    meta = json.loads((path / "meta.json").read_text())
    assert meta["backend"] == "milvus" and meta["uri"].endswith("milvus.db") and meta["index_type"] == "FLAT"
    reopened = load_index(path)
    assert reopened.collection == milvus_flat.collection and reopened.ntotal == milvus_flat.ntotal
    milvus_flat._client.drop_collection(milvus_flat.collection)
    rebuilt = open_or_build_index(dataset, "Flat", backend="milvus")
    assert rebuilt.ntotal == milvus_flat.ntotal and rebuilt._client.has_collection(rebuilt.collection)


def test_seals_loop_on_milvus_lite_gives_the_same_pools_and_batches_as_faiss(dataset, indexes):
    faiss_flat, milvus_flat = indexes
    for strategy in ("maxent", "random"):
        config = RunConfig(concept="rare", strategy=strategy, pool="seals", k=10, budget=120, batch_size=20,
                           seed_pos=2, neg_ratio=4, knn="index")  # fmt: skip
        on_faiss, on_milvus = run(dataset, config, index=faiss_flat), run(dataset, config, index=milvus_flat)
        pd.testing.assert_frame_equal(on_faiss.labels, on_milvus.labels)  # every batch, in order
        same = ["round", "n_labeled", "n_positive", "pool_size", "pool_frac", "ap", "recall", "knn"]
        pd.testing.assert_frame_equal(on_faiss.rounds[same], on_milvus.rounds[same])


def test_labeling_project_runs_on_milvus_lite(tmp_path, dataset):
    from sealsearch.sessions import Project

    rare = [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]
    batches = {}
    for backend in ("faiss", "milvus"):
        project = Project.init(tmp_path / backend, dataset.path, factory="Flat", knn="index", backend=backend)
        project.create_concept("rare", positives=rare[:2])
        concept = project.concept("rare")
        first = concept.next_batch("alice")
        concept.label("alice", [(i["id"], "positive" if i["id"] in rare else "negative") for i in first["items"]])
        batches[backend] = [first["items"], concept.next_batch("alice")["items"]]
        project.close()
    assert [[i["id"] for i in b] for b in batches["faiss"]] == [[i["id"] for i in b] for b in batches["milvus"]]
    reopened = Project.open(tmp_path / "milvus")
    assert reopened.backend == "milvus" and reopened.index.describe() == "milvus:Flat"
    reopened.close()


def test_factory_spellings_and_refusals(dataset, tmp_path):
    assert index_spec("Flat") == ("FLAT", {})
    assert index_spec("HNSW16") == ("HNSW", {"M": 16, "efConstruction": 200})
    assert index_spec("IVF64,SQ8") == ("IVF_SQ8", {"nlist": 64})
    assert index_spec("ivf_flat:nlist=32") == ("IVF_FLAT", {"nlist": 32})
    with pytest.raises(UnknownNameError, match=r"not available on the milvus backend; use one of IVF<n>,SQ8"):
        build_index(dataset.embeddings, np.arange(100), "IVF64,PQ8", backend="milvus", uri=str(tmp_path / "x.db"))
    with pytest.raises(InvalidParameterError, match="takes no uri"):
        open_or_build_index(dataset, "Flat", uri="http://localhost:19530")
    with pytest.raises(InvalidParameterError, match="must end in .db"):
        build_index(dataset.embeddings, np.arange(100), "Flat", backend="milvus", uri=str(tmp_path / "x"))


def test_approximate_types_search_with_their_knobs(dataset, tmp_path):
    pool = dataset.split_rows("pool")
    exact = build_index(dataset.embeddings, pool, "Flat")
    queries = dataset.embeddings.take(pool[:30])
    truth, _ = exact.search(queries, 10, pool[:30])
    for factory, knob in (("HNSW16", "ef=64"), ("IVF16,Flat", "nprobe=16")):
        index = build_index(dataset.embeddings, pool, factory, backend="milvus", uri=str(tmp_path / "a.db"))
        index.set_search_params(knob)
        ids, _ = index.search(queries, 10, pool[:30])
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
        assert recall > 0.9, (factory, recall)
        with pytest.raises(InvalidParameterError, match="do not apply"):
            index.set_search_params("nlist=3")


def test_missing_extra_is_one_line_naming_it(dataset, tmp_path, monkeypatch):
    import sealsearch.index.milvus as milvus

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # what an environment without the extra gives
    monkeypatch.setattr(milvus, "_CLIENTS", {})
    with pytest.raises(MissingExtraError, match=r"sealsearch\[milvus\]") as exc:
        build_index(dataset.embeddings, np.arange(10), "Flat", backend="milvus", uri=str(tmp_path / "m.db"))
    assert "\n" not in str(exc.value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_server_uri_through_the_milvus_lite_grpc_server(tmp_path):
    """http:// URIs take the server path of pymilvus; milvus-lite's own gRPC server stands in for a
    Milvus standalone (which needs docker or its release binary, neither available here)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "srv"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        uri = f"http://127.0.0.1:{port}"
        data = make_dataset(tmp_path / "ds")
        index = open_or_build_index(data, "Flat", backend="milvus", uri=uri)
        assert json.loads((data.index_dir / "milvus-Flat" / "meta.json").read_text())["uri"] == uri
        queries = data.embeddings.take(data.split_rows("pool")[:20])
        assert_same_neighbours(*open_or_build_index(data, "Flat").search(queries, 15), *index.search(queries, 15))
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.skipif(not os.environ.get("SEALS_MILVUS_URI"), reason="set SEALS_MILVUS_URI=http://host:19530")
def test_a_real_milvus_server(tmp_path):
    """Against a Milvus standalone or cluster (none can run on the development machine: no docker)."""
    data = make_dataset(tmp_path / "ds")
    index = open_or_build_index(data, "HNSW32", backend="milvus", uri=os.environ["SEALS_MILVUS_URI"])
    queries = data.embeddings.take(data.split_rows("pool")[:20])
    exact = open_or_build_index(data, "Flat")
    ids, _ = index.search(queries, 10)
    truth, _ = exact.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)]) > 0.9


def test_cli_flags_build_run_and_init_a_project_on_milvus(tmp_path):
    from typer.testing import CliRunner

    from sealsearch.cli import app

    data = make_dataset(tmp_path / "ds")
    runner = CliRunner()
    built = runner.invoke(app, ["index", "build", str(data.path), "--backend", "milvus", "--index-type", "FLAT"])
    assert built.exit_code == 0, built.output
    assert "milvus:FLAT" in built.output and "milvus.db" in built.output and "recall@" in built.output
    flags = ["--budget", "60", "--batch", "20", "--seed-pos", "2", "--k", "10", "--backend", "milvus"]
    ran = runner.invoke(app, ["run", str(data.path), "--concept", "rare", *flags, "--index-type", "FLAT"])
    assert ran.exit_code == 0, ran.output
    made = runner.invoke(app, ["project", "init", str(tmp_path / "p"), "--dataset", str(data.path),
                               "--backend", "milvus", "--index-type", "HNSW"])  # fmt: skip
    assert made.exit_code == 0, made.output
    wrong = runner.invoke(app, ["index", "build", str(data.path), "--index-type", "HNSW"])
    assert wrong.exit_code == 2 and "add --backend milvus" in wrong.output
