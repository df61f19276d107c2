"""The dependency direction (embeddings ← index ← pool ← loop ← experiments ← cli) is enforced:
an upward import fails this test (contracts live in pyproject.toml, checked by import-linter)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path


def test_layers_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    root = Path(__file__).parents[1]
    contracts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken" in result.stdout  # every contract ran and held
    assert "never the dataset folder" in result.stdout  # the index-layer contract is one of them
    assert "Inside sessions: no import cycle" in result.stdout


def test_index_layer_does_not_load_the_dataset_folder_code():
    """Importing every index module pulls in embeddings, never `Dataset` (what the contract promises
    for static imports, checked at run time too)."""
    code = (
        "import sys, sealsearch.index, sealsearch.index.graph, sealsearch.index.ivf_graph; "
        "print('sealsearch.data.dataset' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_public_names_load_lazily_and_all_resolve():
    """`import sealsearch` pays for none of the heavy libraries; every name in `__all__` resolves,
    the labeling `Project` and the registries included."""
    code = (
        "import sys, sealsearch; "
        "print(*sorted(m for m in ('numpy', 'pandas', 'faiss', 'sklearn') if m in sys.modules)); "
        "from sealsearch import Project, STRATEGIES, Strategy, POOLS; "
        "from sealsearch.sessions import Project as P; assert Project is P; "
        "assert isinstance(STRATEGIES['kcenter'], Strategy) and 'seals' in POOLS; "
        "assert sorted(sealsearch.__all__) == sorted(sealsearch._EXPORTS); "
        "[getattr(sealsearch, name) for name in sealsearch.__all__]"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout
