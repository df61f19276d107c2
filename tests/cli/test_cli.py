"""The CLI in-process against real files under tmp_path; results checked through the library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import clustered_vectors
from sealsearch.cli import app
from sealsearch.data.dataset import Dataset

runner = CliRunner()


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    vectors, assignment = clustered_vectors(600, 12, 6, rng)
    np.save(tmp_path / "X.npy", vectors * 3.0)  # not normalised: import must fix that
    split = np.where(np.arange(600) % 5 == 0, "test", "pool")
    pd.DataFrame({"id": [f"i{i}" for i in range(600)], "text": "t", "split": split}).to_parquet(
        tmp_path / "items.parquet"
    )
    concepts = pd.DataFrame({"row": np.flatnonzero(assignment == 2), "concept": "two"})
    concepts = pd.concat([concepts, pd.DataFrame({"row": [1, 2], "concept": "pair"})])
    concepts.to_parquet(tmp_path / "concepts.parquet")
    return tmp_path


def seals(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def import_args(inputs, out="ds", embeddings="X.npy"):
    return [
        "import",
        inputs / out,
        "--embeddings",
        inputs / embeddings,
        "--items",
        inputs / "items.parquet",
        "--labels",
        inputs / "concepts.parquet",
    ]


def test_import_index_run_end_to_end(inputs):
    result = seals(*import_args(inputs))
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(inputs / "ds")
    np.testing.assert_allclose(np.linalg.norm(dataset.embeddings.take(np.arange(600)), axis=1), 1, atol=1e-6)
    assert dataset.split_rows("test").size == 120

    result = seals("index", "build", inputs / "ds", "--factory", "Flat")
    assert result.exit_code == 0, result.output
    assert (inputs / "ds" / "index" / "Flat").is_dir()

    result = seals("run", inputs / "ds", "--concept", "two", "--k", "5", "--budget", "100", "--batch", "20",
                   "--seed-pos", "2", "--neg-ratio", "9", "--out", inputs / "run.parquet")  # fmt: skip
    assert result.exit_code == 0, result.output
    rounds = pd.read_parquet(inputs / "run.parquet")
    labels = pd.read_parquet(inputs / "run.labels.parquet")
    assert rounds["n_labeled"].tolist() == [20, 40, 60, 80, 100]
    assert len(labels) == 100 and labels["round"].min() == 0

    listing = seals("concepts", inputs / "ds")
    assert listing.exit_code == 0 and "two" in listing.output and "pair" in listing.output


def test_compare_runs_every_strategy_and_pool_and_draws_curves(inputs):
    assert seals(*import_args(inputs)).exit_code == 0
    result = seals("compare", inputs / "ds", "--concept", "two", "--strategy", "mlp", "--strategy", "id",
                   "--pool", "all", "--pool", "seals", "--k", "5", "--budget", "100", "--batch", "20",
                   "--seed-pos", "2", "--neg-ratio", "9", "--out", inputs / "cmp")  # fmt: skip
    assert result.exit_code == 0, result.output
    rounds = pd.read_parquet(inputs / "cmp" / "compare.parquet")
    assert sorted(rounds.groupby(["strategy", "pool"]).groups) == [
        ("id", "all"),
        ("id", "seals"),
        ("mlp", "all"),
        ("mlp", "seals"),
    ]
    assert (rounds.groupby(["strategy", "pool"])["n_labeled"].max() == 100).all()
    assert (inputs / "cmp" / "compare.png").read_bytes().startswith(b"\x89PNG")
    bad = seals("compare", inputs / "ds", "--concept", "two", "--strategy", "entropy", "--out", inputs / "cmp2")
    assert_one_line_error(bad, "unknown strategy 'entropy'")
    assert not (inputs / "cmp2").exists()


def test_run_can_draw_its_curves(inputs):
    assert seals(*import_args(inputs)).exit_code == 0
    args = ["run", inputs / "ds", "--concept", "two", "--k", "5", "--budget", "60", "--batch", "20", "--seed-pos", "2",
            "--neg-ratio", "9"]  # fmt: skip
    assert_one_line_error(seals(*args, "--plot", inputs / "curves.pdf"), "must end in .png")
    result = seals(*args, "--plot", inputs / "plots" / "curves.png")
    assert result.exit_code == 0, result.output
    assert (inputs / "plots" / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_import_from_parquet_vector_column(inputs):
    vectors = np.load(inputs / "X.npy")
    pd.DataFrame({"embedding": list(vectors)}).to_parquet(inputs / "X.parquet")
    result = seals("import", inputs / "pq", "--embeddings", inputs / "X.parquet")
    assert result.exit_code == 0, result.output
    expected = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(Dataset.open(inputs / "pq").embeddings.take(np.arange(600)), expected, atol=1e-6)


def test_import_refuses_ragged_parquet_vectors(inputs):
    pd.DataFrame({"embedding": [[1.0, 2.0], [1.0, 2.0], [3.0]]}).to_parquet(inputs / "ragged.parquet")
    result = seals("import", inputs / "out", "--embeddings", inputs / "ragged.parquet")
    assert_one_line_error(result, "row 2 has 1 values but row 0 has 2")
    assert not (inputs / "out").exists()


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in result.output


def test_import_refuses_nan_row_and_writes_nothing(inputs):
    vectors = np.load(inputs / "X.npy")
    vectors[417, 3] = np.nan
    np.save(inputs / "bad.npy", vectors)
    assert_one_line_error(seals(*import_args(inputs, "out", "bad.npy")), "row 417", "NaN")
    assert not (inputs / "out").exists()
    assert [p.name for p in inputs.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("shape", [(600,), (2, 300, 12)])
def test_import_refuses_wrong_dims(inputs, shape):
    np.save(inputs / "bad.npy", np.ones(shape, dtype=np.float32))
    assert_one_line_error(seals(*import_args(inputs, "out", "bad.npy")), "2-D")
    assert not (inputs / "out").exists()


def test_import_refuses_items_of_another_length(inputs):
    np.save(inputs / "short.npy", np.load(inputs / "X.npy")[:500])
    assert_one_line_error(seals(*import_args(inputs, "out", "short.npy")), "items", "500")
    assert not (inputs / "out").exists()


def test_error_messages_keep_their_brackets(inputs):
    pd.DataFrame({"item": [0], "concept": ["x"]}).to_parquet(inputs / "bad-labels.parquet")
    result = seals(
        "import", inputs / "out", "--embeddings", inputs / "X.npy", "--labels", inputs / "bad-labels.parquet"
    )
    assert_one_line_error(result, "missing ['row']")
    assert not (inputs / "out").exists()
    assert seals(*import_args(inputs)).exit_code == 0
    assert_one_line_error(seals("run", inputs / "ds", "--concept", "[b]tw[/b]o"), "unknown concept '[b]tw[/b]o'")


def test_missing_files_are_named(inputs):
    assert_one_line_error(seals("import", inputs / "out", "--embeddings", inputs / "nope.npy"), "nope.npy", "not found")
    assert_one_line_error(seals("run", inputs / "nowhere", "--concept", "two"), "dataset.json", "not found")
    assert not (inputs / "out").exists()


def test_import_never_overwrites_an_existing_dataset(inputs):
    assert seals(*import_args(inputs)).exit_code == 0
    before = (inputs / "ds" / "embeddings.npy").read_bytes()
    assert_one_line_error(seals(*import_args(inputs)), "already exists")
    assert (inputs / "ds" / "embeddings.npy").read_bytes() == before


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--concept", "two", "--k", "0"], ["'--k'", "allowed: 1..2147483647"]),
        (["--concept", "two", "--batch", "-1"], ["'--batch'", "allowed: 1..2147483647"]),
        (["--concept", "two", "--budget", "50"], ["budget 50 is smaller than the seed set"]),
        (["--concept", "too"], ["unknown concept 'too'", "did you mean 'two'"]),
        (["--concept", "pair"], ["'pair' has", "fewer than --seed-pos 5"]),
        (["--concept", "two", "--strategy", "maxentt"], ["unknown strategy", "did you mean 'maxent'"]),
        (["--concept", "two", "--factory", "Flatt"], ["Flatt"]),
    ],
)
def test_bad_run_parameters_fail_with_one_line_and_write_nothing(inputs, flags, fragments):
    assert seals(*import_args(inputs)).exit_code == 0
    result = seals("run", inputs / "ds", *flags, "--out", inputs / "run.parquet")
    assert_one_line_error(result, *fragments)
    assert not (inputs / "run.parquet").exists()
    assert not (inputs / "run.labels.parquet").exists()


def test_result_tables_fit_an_80_column_terminal(small_dataset):
    from rich.console import Console

    from sealsearch.cli.output import frame_table
    from sealsearch.cli.simulate import SUMMARY_COLUMNS
    from sealsearch.experiments.compare import compare
    from sealsearch.experiments.simulate import RunConfig, run
    from sealsearch.reporting.results import summary_table

    config = RunConfig(concept="rare", k=5, budget=60, batch_size=20, seed_pos=2, neg_ratio=9)
    rounds = compare(small_dataset, ["rare"], config, strategies=("maxent", "mlp"), pools=("randpool", "seals"))
    console = Console(width=80, record=True)
    console.print(frame_table(summary_table(rounds)[SUMMARY_COLUMNS], "summary, as `seals compare` prints it"))
    console.print(frame_table(run(small_dataset, config).rounds, "one run, as `seals run` prints it"))
    text = console.export_text()
    assert "…" not in text, text
    assert "maxent" in text and "seals" in text and "pool %" in text


COMMANDS = ["import", "concepts", "dataset", "index", "run", "compare", "demo", "experiment", "analyze", "report",
            "predict", "project", "serve", "label", "export", "embed", "doctor"]  # fmt: skip


def test_help_lists_every_command_without_loading_the_library():
    import subprocess
    import sys

    import typer

    assert sorted(typer.main.get_command(app).commands) == sorted(COMMANDS)
    code = (
        "import sys; from typer.testing import CliRunner; from sealsearch.cli import app; "
        "result = CliRunner().invoke(app, ['--help']); print(result.output); "
        "print('loaded:', *sorted(m for m in ('pandas', 'faiss', 'sklearn', 'rich.progress') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for command in COMMANDS:
        assert f" {command} " in output, output
    assert output.rstrip().endswith("loaded:"), output


def test_option_help_names_the_registries():
    from sealsearch.active.pools import POOL_NAMES
    from sealsearch.active.strategies import STRATEGY_NAMES

    for command in ("run", "compare", "experiment"):
        text = " ".join(seals(command, "--help").output.replace("│", " ").split())
        for name in (*STRATEGY_NAMES, *POOL_NAMES):
            assert name in text, (command, name)
        assert "{strategies}" not in text and "{pools}" not in text and "{knn_sources}" not in text
        assert "--knn" in text and "auto, graph, index" in text, command


def test_multi_valued_flags_accept_repeats_and_commas():
    from sealsearch.cli import options

    assert options.values(["all", "seals, adaptive"], "--pool") == ["all", "seals", "adaptive"]
    assert options.names("maxent,mlp", "--strategy", "strategy") == ["maxent", "mlp"]
    assert options.numbers(["10,20", "100"], "--k") == [10, 20, 100]
    assert options.numbers("none,0.9", "--dedup", options.threshold) == [None, 0.9]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "--concept", "two", "--pool", "sael"], ["unknown pool 'sael'", "did you mean 'seals'"]),
        (["compare", "--strategy", "maxent,,mlp"], ["--strategy 'maxent,,mlp'", "comma-separated"]),
        (["compare", "--strategy", "maxent", "--strategy", "mlpp"], ["unknown strategy 'mlpp'", "did you mean 'mlp'"]),
        (["compare", "--pool", "all,sealz"], ["unknown pool 'sealz'", "did you mean 'seals'"]),
        (["compare", "--concepts", "0"], ["--concepts must be positive"]),
        (["compare", "--concepts", "two,tow"], ["unknown concept 'tow'", "did you mean 'two'"]),
        (["experiment", "--k", "10,x"], ["--k '10,x'", "comma-separated"]),
        (["experiment", "--seed-pos", "2", "--dedup", "0.9,high"], ["--dedup"]),
        (["experiment", "--concept", "two", "--pool", "al"], ["unknown pool 'al'", "did you mean 'all'"]),
        (["run", "--concept", "two", "--knn", "grap"], ["unknown kNN source (--knn) 'grap'", "did you mean 'graph'"]),
        (["experiment", "--knn", "indx"], ["did you mean 'index'"]),
    ],
)
def test_bad_flag_values_are_one_line_and_exit_2(inputs, args, fragments):
    assert seals(*import_args(inputs)).exit_code == 0
    command, *flags = args
    result = seals(command, inputs / "ds", *flags, "--out", inputs / "out")
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, *fragments)
    assert not (inputs / "out").exists()


def test_knn_source_is_chosen_on_the_command_line_and_recorded(inputs):
    assert seals(*import_args(inputs)).exit_code == 0
    args = ["--concept", "two", "--k", "5", "--budget", "60", "--batch", "20", "--seed-pos", "2", "--neg-ratio", "9",
            "--factory", "Flat"]  # fmt: skip
    refused = seals("run", inputs / "ds", *args, "--knn", "graph", "--out", inputs / "g.parquet")
    assert_one_line_error(refused, "seals index graph", "--k 5")
    assert not (inputs / "g.parquet").exists()
    result = seals("run", inputs / "ds", *args, "--knn", "index", "--out", inputs / "i.parquet")
    assert result.exit_code == 0, result.output
    assert "kNN source: index" in result.output
    assert set(pd.read_parquet(inputs / "i.parquet")["knn"]) == {"index"}
    assert seals("index", "graph", inputs / "ds", "--factory", "Flat", "--k", "5").exit_code == 0
    result = seals("run", inputs / "ds", *args, "--knn", "graph")
    assert result.exit_code == 0 and "kNN source: graph" in result.output, result.output
    result = seals("compare", inputs / "ds", *args, "--pool", "seals", "--knn", "index", "--out", inputs / "cmp")
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(inputs / "cmp" / "compare.parquet")["knn"]) == {"index"}
    result = seals("experiment", inputs / "ds", *args[:2], "--k", "5", "--budget", "60", "--seed-pos", "2",
                   "--neg-ratio", "9", "--factory", "Flat", "--pool", "seals", "--strategy", "maxent",
                   "--repeats", "1", "--knn", "graph", "--out", inputs / "exp")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(inputs / "exp" / "runs.parquet")["knn"]) == {"graph"}


def test_import_help_states_the_library_pca_sample_default():
    import typer

    from sealsearch.data.projection import PCA_SAMPLE_ROWS

    (option,) = [p for p in typer.main.get_command(app).commands["import"].params if p.name == "pca_sample"]
    assert f"(default {PCA_SAMPLE_ROWS:,})" in option.help
