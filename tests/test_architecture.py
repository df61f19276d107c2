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
    assert "Contracts: 4 kept, 0 broken" in result.stdout
