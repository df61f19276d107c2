"""A check's result as `seals doctor` shows it: `Finding`, and `finding` that runs one check.

Apart from the checks themselves (data/checks.py, index/checks.py, sessions/doctor.py) so every
layer can report findings without importing the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sealsearch.errors import SealsearchError

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Finding:
    """One row of the doctor's table: which check, its status, what was found, what to do."""

    check: str
    status: str  # OK, WARN (works, but look), FAIL (a command would refuse or answer wrongly), SKIP
    found: str
    fix: str = ""


def finding(check: str, run: Callable[[], str | Finding]) -> Finding:
    """Run one check: its description when it passes, the command's own one-line error when not
    (split at its last "; " into what was found and what to do)."""
    try:
        result = run()
    except SealsearchError as exc:
        found, _, fix = str(exc).rpartition("; ")
        return Finding(check, FAIL, found or fix, fix if found else "")
    return result if isinstance(result, Finding) else Finding(check, OK, result)
