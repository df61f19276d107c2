"""The milvus index backend (`sealsearch[milvus]`) on real milvus-lite databases under tmp_path and
on a real Milvus 2.3.5 standalone server: the same answers as Faiss `Flat` for an exact index type,
the whole SEALS loop and a labeling project unchanged, the URI forms, and the server's limits.

The server tests (marker `milvus_server`) use the `milvus_server` fixture (tests/conftest.py):
SEALS_MILVUS_URI when set (an external server), else the server from the `milvus` wheel (PyPI, no
docker) in the Python named by SEALS_MILVUS_SERVER_PYTHON, by default .venv-milvus/bin/python
(`make milvus-server` makes it). The checks every backend passes are in test_contract.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import free_port, make_dataset
from sealsearch.active.knn import open_or_build_index
from sealsearch.errors import InvalidParameterError, MissingExtraError, UnknownNameError
from sealsearch.experiments.simulate import RunConfig, run
from sealsearch.index import build_index, load_index
from sealsearch.index.milvus import MAX_QUERIES, MAX_REQUEST_BYTES, MAX_TOPK, client_for, index_spec

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install 'sealsearch[milvus]')")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("milvus") / "ds")


@pytest.fixture(scope="module", params=["milvus-lite", pytest.param("server", marks=pytest.mark.milvus_server)])
def deployed(request, tmp_path_factory):
    """(dataset, Faiss Flat, Milvus FLAT, uri) on milvus-lite (uri None: DATASET/index/milvus.db)
    or on the real server, each with its own dataset so their saved index descriptions never meet."""
    uri = None if request.param == "milvus-lite" else request.getfixturevalue("milvus_server")
    data = make_dataset(tmp_path_factory.mktemp(request.param) / "ds")
    return data, open_or_build_index(data, "Flat"), open_or_build_index(data, "Flat", backend="milvus", uri=uri), uri


def assert_same_neighbours(ids_a, sims_a, ids_b, sims_b, tol=1e-5):
    """Equal similarities; ids equal except where similarities tie: within the row (a reordering),
    or with its last one, whose tie may lie beyond k (the two rows may then end in different ids)."""
    np.testing.assert_allclose(sims_a, sims_b, atol=tol)
    for row_a, row_b, sims in zip(ids_a, ids_b, sims_a, strict=True):
        differ = row_a != row_b
        if differ.any():
            tied = np.isclose(sims[differ][:, None], sims[None, :], atol=tol).sum(axis=1) > 1
            last = np.isclose(sims, sims[-1], atol=tol)
            assert (tied | last[differ]).all() and set(row_a[~last]) == set(row_b[~last])


def test_flat_on_milvus_answers_like_faiss_flat(deployed):
    dataset, faiss_flat, milvus_flat, _ = deployed
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


def test_saved_index_reopens_and_a_missing_collection_is_rebuilt(deployed):
    dataset, _, milvus_flat, uri = deployed
    path = dataset.index_dir / "milvus-Flat"
    meta = json.loads((path / "meta.json").read_text())
    assert meta["backend"] == "milvus" and meta["index_type"] == "FLAT"
    assert meta["uri"] == uri if uri else meta["uri"].endswith("milvus.db")
    reopened = load_index(path)
    assert reopened.collection == milvus_flat.collection and reopened.ntotal == milvus_flat.ntotal
    milvus_flat._client.drop_collection(milvus_flat.collection)
    rebuilt = open_or_build_index(dataset, "Flat", backend="milvus", uri=uri)
    assert rebuilt.ntotal == milvus_flat.ntotal and rebuilt._client.has_collection(rebuilt.collection)


def test_seals_loop_on_milvus_gives_the_same_pools_and_batches_as_faiss(deployed):
    dataset, faiss_flat, milvus_flat, _ = deployed
    for strategy in ("maxent", "random"):
        config = RunConfig(concept="rare", strategy=strategy, pool="seals", k=10, budget=120, batch_size=20,
                           seed_pos=2, neg_ratio=4, knn="index")  # fmt: skip
        on_faiss, on_milvus = run(dataset, config, index=faiss_flat), run(dataset, config, index=milvus_flat)
        pd.testing.assert_frame_equal(on_faiss.labels, on_milvus.labels)  # every batch, in order
        same = ["round", "n_labeled", "n_positive", "pool_size", "pool_frac", "ap", "recall", "knn"]
        pd.testing.assert_frame_equal(on_faiss.rounds[same], on_milvus.rounds[same])


def test_labeling_project_runs_on_milvus(tmp_path, deployed):
    from sealsearch.sessions import Project

    dataset, _, _, uri = deployed
    rare = [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]
    batches = {}
    for backend, at in (("faiss", None), ("milvus", uri)):
        project = Project.init(tmp_path / backend, dataset.path, factory="Flat", knn="index", backend=backend, uri=at)
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


def test_approximate_types_search_with_their_knobs(deployed, tmp_path):
    dataset, _, _, uri = deployed
    pool = dataset.split_rows("pool")
    exact = build_index(dataset.embeddings, pool, "Flat")
    queries = dataset.embeddings.take(pool[:30])
    truth, _ = exact.search(queries, 10, pool[:30])
    for factory, knob in (("HNSW16", "ef=64"), ("IVF16,Flat", "nprobe=16"), ("IVF16,SQ8", "nprobe=16")):
        index = build_index(dataset.embeddings, pool, factory, backend="milvus", uri=uri or str(tmp_path / "a.db"))
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


def test_a_server_uri_through_the_milvus_lite_grpc_server(tmp_path):
    """http:// URIs take the server path of pymilvus; milvus-lite's own gRPC server answers them
    too, so this runs wherever the milvus extra is installed (the real server needs .venv-milvus)."""
    port = free_port()
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


@pytest.mark.milvus_server
def test_searches_beyond_the_servers_limits_are_split(milvus_server, tmp_path):
    """A 2.3.5 server refuses more than 16,384 queries, a top-k above 16,384, and requests over 64 MB
    (each measured: docs/index.md); searches past the first and third go in batches and still agree
    with Faiss, and k at the cap works while k + 1 (the own row dropped) is refused in one line."""
    many, wide = make_dataset(tmp_path / "many", n=MAX_QUERIES + 200), make_dataset(tmp_path / "wide", 1000, 2048)
    rows, wide_rows, dim = np.arange(many.embeddings.n), np.arange(wide.embeddings.n), wide.embeddings.dim
    faiss_flat, faiss_wide = build_index(many.embeddings, rows, "Flat"), build_index(wide.embeddings, wide_rows, "Flat")
    milvus_flat = build_index(many.embeddings, rows, "Flat", backend="milvus", uri=milvus_server)
    milvus_wide = build_index(wide.embeddings, wide_rows, "Flat", backend="milvus", uri=milvus_server)
    assert milvus_flat.collection != milvus_wide.collection  # two unsaved indexes at one server never share one
    queries = many.embeddings.take(rows)  # more queries than one request may carry
    assert_same_neighbours(*faiss_flat.search(queries, 5, rows), *milvus_flat.search(queries, 5, rows))
    assert_same_neighbours(*faiss_flat.search(queries[:3], MAX_TOPK), *milvus_flat.search(queries[:3], MAX_TOPK))
    with pytest.raises(InvalidParameterError, match=f"at most {MAX_TOPK} neighbours.*own row") as exc:
        milvus_flat.search(queries[:3], MAX_TOPK, rows[:3])
    assert "\n" not in str(exc.value)
    queries = np.random.default_rng(0).normal(size=(MAX_REQUEST_BYTES // (4 * dim) + 100, dim))  # > 64 MB of float32
    assert_same_neighbours(*faiss_wide.search(queries, 3), *milvus_wide.search(queries, 3), tol=1e-4)


@pytest.mark.milvus_server
def test_an_index_type_the_server_lacks_is_refused_in_one_line(milvus_server, dataset):
    """Milvus 2.3.5 has no HNSW_SQ (milvus-lite 3.x has): the refusal names the types to use instead
    and leaves no collection behind. A newer server (SEALS_MILVUS_URI) may build it."""
    client = client_for(milvus_server)
    before, version = set(client.list_collections()), client.get_server_version()
    try:
        build_index(dataset.embeddings, np.arange(100), "HNSW16,SQ8", backend="milvus", uri=milvus_server)
    except InvalidParameterError as exc:
        assert "HNSW_SQ" in str(exc) and "IVF_SQ8" in str(exc) and "\n" not in str(exc)
        assert set(client.list_collections()) == before
    else:
        assert not version.startswith("v2.3"), f"{version} built an HNSW_SQ index"


@pytest.mark.milvus_server
def test_cli_builds_an_index_on_the_server(milvus_server, tmp_path):
    from typer.testing import CliRunner

    from sealsearch.cli import app

    data = make_dataset(tmp_path / "ds")
    runner = CliRunner()
    built = runner.invoke(app, ["index", "build", str(data.path), "--backend", "milvus", "--uri", milvus_server,
                                "--index-type", "HNSW"])  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "milvus:HNSW" in built.output and milvus_server in built.output and "recall@" in built.output
    flags = ["--budget", "60", "--batch", "20", "--seed-pos", "2", "--k", "10", "--backend", "milvus"]
    ran = runner.invoke(app, ["run", str(data.path), "--concept", "rare", *flags, "--uri", milvus_server])
    assert ran.exit_code == 0, ran.output


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
