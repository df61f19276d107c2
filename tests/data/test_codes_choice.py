"""`codes="auto"|"sq8"|"none"`: the auto rule on injected sizes, and the same selections with and
without codes in a whole simulated run, an experiment and a labeling project."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_dataset
from sealsearch.active.knn import open_codes
from sealsearch.data.codes import CACHE_SHARE, Sq8Codes, available_memory, choose_codes, codes_paths, decide_codes
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.grid import ExperimentGrid, run_experiment
from sealsearch.experiments.simulate import RunConfig, run
from sealsearch.sessions import Project

GB = 1024**3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("codes") / "ds")


@pytest.mark.parametrize(
    ("file_gb", "available_gb", "expected"),
    [
        (1, 22, "none"),  # 10^6 × 256 on this box: stays cached
        (11, 22, "none"),  # exactly half: still counts as cached
        (10.24, 20, "sq8"),  # 10^7 × 256 beside 20 GB available: the measured out-of-core case
        (12, 22, "sq8"),
        (10.24, 1, "none"),  # under a 1 GB cgroup even the 2.6 GB of codes do not fit
        (102.4, 22, "none"),  # 10^8 × 256: 26 GB of codes would not fit either
    ],
)
def test_auto_rule_on_injected_sizes(file_gb, available_gb, expected):
    assert choose_codes(int(file_gb * GB), int(available_gb * GB)) == expected


def test_auto_rule_boundaries():
    available = 20 * GB
    share = int(CACHE_SHARE * available)
    assert choose_codes(share, available) == "none"
    assert choose_codes(share + 1, available) == "sq8"
    assert choose_codes(4 * share, available) == "sq8"  # codes exactly fill the share
    assert choose_codes(4 * share + 4, available) == "none"
    assert choose_codes(1, 0) == "none"  # nothing available: codes do not fit either


def test_available_memory_reads_meminfo_and_the_cgroup_limit(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal: 24000000 kB\nMemAvailable:   20000000 kB\n")
    assert available_memory(tmp_path) == 20000000 * 1024
    cgroup = tmp_path / "sys/fs/cgroup"
    cgroup.mkdir(parents=True)
    (cgroup / "memory.max").write_text("max\n")  # v2 without a limit
    (cgroup / "memory.current").write_text("5000\n")
    assert available_memory(tmp_path) == 20000000 * 1024
    (cgroup / "memory.max").write_text(f"{GB}\n")
    (cgroup / "memory.current").write_text(f"{GB // 4}\n")
    assert available_memory(tmp_path) == GB - GB // 4
    v1 = tmp_path / "sys/fs/cgroup/memory"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text(f"{GB // 2}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{GB // 8}\n")
    assert available_memory(tmp_path) == GB // 2 - GB // 8


def _fake_machine(root, cgroup_lines: str):
    """A fake /proc (20 GB MemAvailable, this process's /proc/self/cgroup) under root."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/meminfo").write_text("MemTotal: 24000000 kB\nMemAvailable:   20000000 kB\n")
    (root / "proc/self/cgroup").write_text(cgroup_lines)
    return 20000000 * 1024


def _cgroup(folder, limit_name, limit, usage_name, usage):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / limit_name).write_text(f"{limit}\n")
    (folder / usage_name).write_text(f"{usage}\n")


def test_available_memory_reads_a_nested_v1_cgroup_and_its_ancestors(tmp_path):
    # as bench/memlimit.py places a command here: a child of the process's own memory cgroup
    _fake_machine(tmp_path, "4:memory:/process_api/abc/child\n3:cpuset:/\n0::/\n")
    v1 = tmp_path / "sys/fs/cgroup/memory"
    _cgroup(v1, "memory.limit_in_bytes", 2**63 - 4096, "memory.usage_in_bytes", 8 * GB)  # the root: no limit
    _cgroup(v1 / "process_api/abc", "memory.limit_in_bytes", 2**63 - 4096, "memory.usage_in_bytes", GB)
    _cgroup(v1 / "process_api/abc/child", "memory.limit_in_bytes", 2 * GB, "memory.usage_in_bytes", GB // 4)
    assert available_memory(tmp_path) == 2 * GB - GB // 4
    # an ancestor with less room left than the child's own limit gives is the tighter one
    _cgroup(v1 / "process_api", "memory.limit_in_bytes", 3 * GB, "memory.usage_in_bytes", 2 * GB)
    assert available_memory(tmp_path) == GB


def test_available_memory_reads_a_nested_v2_cgroup_and_its_ancestors(tmp_path):
    _fake_machine(tmp_path, "0::/user.slice/job.scope\n")
    v2 = tmp_path / "sys/fs/cgroup"
    _cgroup(v2 / "user.slice", "memory.max", "max", "memory.current", 4 * GB)
    _cgroup(v2 / "user.slice/job.scope", "memory.max", GB, "memory.current", GB // 8)
    assert available_memory(tmp_path) == GB - GB // 8
    _cgroup(v2 / "user.slice", "memory.max", 5 * GB, "memory.current", 4 * GB + GB // 2)
    assert available_memory(tmp_path) == GB // 2


def test_available_memory_without_any_limit_is_meminfo(tmp_path):
    meminfo = _fake_machine(tmp_path, "4:memory:/process_api/abc\n0::/\n")
    _cgroup(tmp_path / "sys/fs/cgroup/memory/process_api/abc", "memory.limit_in_bytes", 2**63 - 4096,
            "memory.usage_in_bytes", GB)  # fmt: skip
    _cgroup(tmp_path / "sys/fs/cgroup", "memory.max", "max", "memory.current", GB)
    assert available_memory(tmp_path) == meminfo
    (tmp_path / "proc/self/cgroup").write_text("4:memory:/gone/elsewhere\n")  # a path this /sys lacks
    assert available_memory(tmp_path) == meminfo


def test_decide_and_open_codes_follow_the_mode(dataset):
    embeddings = dataset.path / "embeddings.npy"
    size = embeddings.stat().st_size
    assert decide_codes("auto", embeddings, available_bytes=100 * size) == "none"
    assert decide_codes("auto", embeddings, available_bytes=size) == "sq8"  # the file is twice the share
    assert open_codes(dataset, "none") is None
    assert open_codes(dataset, "auto", available_bytes=100 * size) is None
    codes = open_codes(dataset, "auto", available_bytes=size)
    assert isinstance(codes, Sq8Codes) and codes_paths(embeddings)[0].is_file()
    with pytest.raises(InvalidParameterError, match="codes"):
        decide_codes("sq4", embeddings)


def test_resolve_codes_still_works_for_a_release_and_says_what_replaces_it(dataset):
    from sealsearch.data.codes import resolve_codes

    embeddings = dataset.path / "embeddings.npy"
    size = embeddings.stat().st_size
    with pytest.warns(DeprecationWarning, match="open_codes"):
        assert resolve_codes("auto", dataset.embeddings, embeddings, available_bytes=100 * size) is None
    with pytest.warns(DeprecationWarning):
        assert isinstance(resolve_codes("sq8", dataset.embeddings, embeddings), Sq8Codes)
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidParameterError, match="open_codes"):
        resolve_codes("index", dataset.embeddings, embeddings)


def test_bad_codes_mode_names_the_parameter(dataset):
    with pytest.raises(InvalidParameterError) as caught:
        RunConfig(concept="rare", codes="SQ8").validate()
    assert list(caught.value.params) == ["codes"] and "sq8" in str(caught.value)


def _config(codes: str, strategy: str = "maxent") -> RunConfig:
    return RunConfig(
        concept="rare", strategy=strategy, pool="seals", k=10, budget=100, batch_size=10, seed_pos=3, neg_ratio=9,
        factory="Flat", knn="index", codes=codes,
    )  # fmt: skip


@pytest.mark.parametrize("strategy", ["maxent", "mlp"])
def test_a_run_on_codes_selects_the_exact_runs_batches(dataset, strategy):
    exact, coded = run(dataset, _config("none", strategy)), run(dataset, _config("sq8", strategy))
    assert (exact.config.codes, coded.config.codes) == ("none", "sq8")
    # the same tolerance as test_codes.py's pool-level test (the bench measured overlap 1.00 at
    # 10^6 and 10^7): per round at least 90% of the batch, 99% on average; here equal is expected
    by_round = [
        np.intersect1d(a["row"], b["row"]).size / len(a)
        for (_, a), (_, b) in zip(exact.labels.groupby("round"), coded.labels.groupby("round"), strict=True)
    ]
    assert min(by_round) >= 0.9 and np.mean(by_round) >= 0.99, by_round


def test_an_all_pool_never_uses_codes(dataset):
    config = _config("sq8")
    config.pool = "all"
    assert run(dataset, config).config.codes == "none"


def test_experiment_records_sq8_and_resolves_auto(dataset, tmp_path):
    grid = ExperimentGrid(
        concepts=["rare"], strategies=["maxent"], pools=["seals"], ks=[10], seed_pos=[3], repeats=1, budget=60,
        neg_ratio=9, factory="Flat", knn="index", codes="sq8",
    )  # fmt: skip
    coded = run_experiment(dataset, grid, tmp_path / "sq8", full_supervision=False)
    assert ExperimentGrid.codes_mode(grid, dataset) == "sq8"
    assert json.loads((tmp_path / "sq8" / "experiment.json").read_text())["codes"] == "sq8"
    grid.codes = "none"
    exact = run_experiment(dataset, grid, tmp_path / "none", full_supervision=False)
    assert "codes" not in json.loads((tmp_path / "none" / "experiment.json").read_text())
    assert coded.runs["recall"].tolist() == exact.runs["recall"].tolist()
    grid.codes = "sq8"
    with pytest.raises(InvalidParameterError, match="codes=None, not 'sq8'"):  # runs made without codes
        run_experiment(dataset, grid, tmp_path / "none", full_supervision=False)


def test_project_records_codes_and_its_sessions_score_on_them(dataset, tmp_path):
    with pytest.raises(InvalidParameterError, match="codes"):
        Project.init(tmp_path / "bad", dataset.path, codes="yes")
    assert not (tmp_path / "bad").exists()
    Project.init(tmp_path / "p", dataset.path, factory="Flat", codes="sq8").close()
    with Project.open(tmp_path / "p") as project:
        assert project.codes == "sq8" and isinstance(project.pool_codes, Sq8Codes)
        rare = project.ids_of(np.intersect1d(dataset.concept_rows("rare"), dataset.split_rows("pool"))[:3])
        project.create_concept("rare", positives=rare, k=10, batch_size=10)
        session = project.concept("rare")
        assert session.next_batch("me")["items"]
        with session._lock:  # the model the batch came from: its seals pool holds the project's codes
            assert session._synced_model(record=False).loop.pool.codes is project.pool_codes
    Project.init(tmp_path / "q", dataset.path, factory="Flat").close()
    with Project.open(tmp_path / "q") as project:
        assert project.codes == "auto" and project.pool_codes is None  # a small file stays cached
