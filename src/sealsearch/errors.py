"""One exception hierarchy so the CLI and the web app can map every failure to a one-line
message and an exit code (CLI) or an HTTP status (web) instead of a traceback.

A message names parameters by their Python names (`k`, `seed_pos`) and lists them in `params`;
each front end shows its own spelling: the CLI its flags (`--k`, `--seed-pos`; cli/output.py),
the web API its JSON fields, which are the Python names.
"""

from __future__ import annotations

from collections.abc import Iterable


class SealsearchError(Exception):
    """Base of every error a user can cause and fix; the message is one line that names the
    file or field and says what to do. `params`: the parameters the message names."""

    exit_code = 1
    http_status = 400

    def __init__(self, message: str = "", *, params: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.params = tuple(params)

    def __reduce__(self):  # pickle keeps `params` across processes (experiment workers)
        return _rebuild, (type(self), str(self), self.params)


def _rebuild(cls: type[SealsearchError], message: str, params: tuple[str, ...]) -> SealsearchError:
    return cls(message, params=params)


class InvalidDataError(SealsearchError):
    """An input file exists but its content is unusable (NaN row, wrong shape, bad column)."""


class MissingFileError(SealsearchError):
    """A required file or directory is absent."""

    http_status = 404


class InvalidParameterError(SealsearchError):
    """A parameter value is out of range or inconsistent with the data (k <= 0, budget < seed)."""

    exit_code = 2
    http_status = 422


class UnknownNameError(InvalidParameterError):
    """A name (concept, strategy, pool, index factory, item id) is not known; message suggests close matches."""

    http_status = 404


class ConflictError(SealsearchError):
    """The request clashes with the project's current state (a concept that exists, no open batch
    to read); retrying the same request will not help, doing what the message says will."""

    http_status = 409


class ConceptExistsError(ConflictError, InvalidParameterError):
    """A concept of that name exists (409). Also an InvalidParameterError, which it was before it
    had its own class, so callers catching that keep working."""

    http_status = 409


class LabelConflictError(ConflictError):
    """A row was told a second time with a different label (or twice, differently, in one call)."""


class MissingExtraError(SealsearchError):
    """An optional dependency group (e.g. `sealsearch[text]`) is needed but not installed."""


class StorageError(SealsearchError):
    """The disk refused a write or a read (full, read-only, I/O error, locked for too long);
    nothing of the refused call was recorded."""

    http_status = 507


class ProjectBusyError(StorageError):
    """Another process holds the project's database for writing (SQLite busy/locked) past a short
    wait; nothing of the refused call was recorded and the same call may simply be retried."""

    exit_code = 75  # sysexits' EX_TEMPFAIL: try again later
    http_status = 503
    retry_after_s = 2
