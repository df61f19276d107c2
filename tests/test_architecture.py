"""The dependency direction (embeddings ← index ← pool ← loop ← experiments ← cli) is enforced:
an upward import fails this test (contracts live in pyproject.toml, checked by import-linter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_layers_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken" in result.stdout
    assert "never the dataset folder" in result.stdout  # the index-layer contract is one of them


def test_index_layer_does_not_load_the_dataset_folder_code():
    """Importing every index module pulls in embeddings, never `Dataset` (what the contract promises
    for static imports, checked at run time too)."""
    code = (
        "import sys, sealsearch.index, sealsearch.index.graph, sealsearch.index.ivf_graph; "
        "print('sealsearch.data.dataset' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
