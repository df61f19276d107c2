"""What an experiment folder records of the settings its cells share (`experiment.json`): a
rerun into the same folder must agree with them, so runs written before and after it compare."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sealsearch._util import write_text_atomic
from sealsearch.errors import InvalidParameterError

SETTINGS_FILE = "experiment.json"


def check_settings(out_dir: Path, settings: dict) -> None:
    """Record `settings` in a new `out_dir`, or refuse ones that differ from those recorded there."""
    path = out_dir / SETTINGS_FILE
    if path.exists():
        recorded = json.loads(path.read_text())
        differing = {k: (recorded.get(k), v) for k, v in settings.items() if recorded.get(k) != v}
        if differing:
            name, (old, new) = next(iter(differing.items()))
            raise InvalidParameterError(
                f"{out_dir} holds an experiment with {name}={old!r}, not {new!r}; "
                "use another out_dir or the same settings",
                params=["out_dir"],
            )
    else:
        write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


def check_knn_sources(out_dir: Path, runs: pd.DataFrame, sources: dict[int, str]) -> None:
    """Refuse new seals runs whose neighbours would come from another source than the runs of the
    same k already in `out_dir`; then record every k's source in experiment.json."""
    path = out_dir / SETTINGS_FILE
    settings = json.loads(path.read_text())
    recorded = {str(k): v for k, v in (settings.get("knn") or {}).items()}
    if "knn" in runs.columns:  # the runs themselves, for an experiment.json that lost its record
        for k, source in (
            runs.loc[runs["knn"].isin(["graph", "index"]), ["k", "knn"]].drop_duplicates().itertuples(index=False)
        ):
            recorded.setdefault(str(int(k)), source)
    for k, source in sorted(sources.items()):
        old = recorded.get(str(k))
        if old is not None and old != source:
            raise InvalidParameterError(
                f"{out_dir} holds runs with k={k} whose neighbours came from the kNN {old}, but new runs would "
                f"use the kNN {source}; pass knn={old!r} to continue as they ran, "
                "or use another out_dir for the other source",
                params=["knn", "out_dir"],
            )
        recorded[str(k)] = source
    if recorded != settings.get("knn"):
        write_text_atomic(path, json.dumps({**settings, "knn": recorded}, indent=2) + "\n")
