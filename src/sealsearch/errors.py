"""One exception hierarchy so the CLI and the web app can map every failure to a one-line
message and an exit code (CLI) or an HTTP status (web) instead of a traceback."""

from __future__ import annotations


class SealsearchError(Exception):
    """Base of every error a user can cause and fix; the message is one line that names the
    file or field and says what to do."""

    exit_code = 1
    http_status = 400


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
