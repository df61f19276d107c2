"""`--codes auto|sq8|index|none` on `seals run`, `seals experiment` and `seals project init` (recorded
in the project, so `seals label` and `seals serve` score on what it says)."""

from __future__ import annotations

import json

from cli_support import SMALL_RUN, seals, world  # noqa: F401 (world is a fixture)

from sealsearch.data.codes import codes_paths
from sealsearch.sessions import Project


def test_run_and_experiment_take_codes(world, tmp_path):  # noqa: F811
    args = [*SMALL_RUN, "--pool", "seals", "--k", "5", "--factory", "Flat", "--knn", "index"]
    result = seals("run", world / "ds", *args, "--codes", "sq8")
    assert result.exit_code == 0, result.output
    assert "codes: sq8" in result.output and codes_paths(world / "ds" / "embeddings.npy")[0].is_file()
    result = seals("run", world / "ds", *args)  # auto: a 19 KB file stays in the page cache
    assert result.exit_code == 0 and "codes: none" in result.output, result.output
    result = seals("experiment", world / "ds", "--concept", "rare", "--budget", "60", "--seed-pos", "2",
                   "--neg-ratio", "4", "--k", "5", "--factory", "Flat", "--pool", "seals", "--strategy", "maxent",
                   "--repeats", "1", "--codes", "sq8", "--out", tmp_path / "exp")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "exp" / "experiment.json").read_text())["codes"] == "sq8"


def test_a_bad_codes_value_is_one_line_naming_the_flag(world, tmp_path):  # noqa: F811
    result = seals("run", world / "ds", *SMALL_RUN, "--codes", "sq4")
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and "sq8" in message, message
    result = seals("project", "init", tmp_path / "p", "--dataset", world / "ds", "--codes", "SQ8")
    assert result.exit_code == 2 and not (tmp_path / "p").exists(), result.output


def test_project_init_records_codes(world, tmp_path):  # noqa: F811
    result = seals("project", "init", tmp_path / "p", "--dataset", world / "ds", "--factory", "Flat", "--codes", "sq8")
    assert result.exit_code == 0, result.output
    with Project.open(tmp_path / "p") as project:
        assert project.codes == "sq8" and project.pool_codes is not None


def test_seals_run_takes_codes_index_and_refuses_it_without_codes_in_one_line(world):  # noqa: F811
    args = [*SMALL_RUN, "--pool", "seals", "--k", "5", "--knn", "index"]
    result = seals("run", world / "ds", *args, "--factory", "IVF4,SQ8", "--codes", "index")
    assert result.exit_code == 0 and "codes: index" in result.output, result.output
    result = seals("run", world / "ds", *args, "--factory", "Flat", "--codes", "index")
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and "IVF4096,SQ8" in message, message
