"""`seals label`: label a concept in the terminal, one key per item.

The same `Project` / `ConceptSession` API as the web app, so the same SQLite file, leases and
durability: each answer is sent with `ConceptSession.label` as soon as it is typed and "saved" is
printed only once that call returned (after COMMIT), so quitting, a closed terminal or a crash
loses at most the one answer being typed. Undo appends an undo event (`ConceptSession.undo`) and
shows the item again. The model learns a batch as one round: once its last item is answered
(the next batch follows), or early with b, which asks for a new batch at once. The progress line
shows the recall estimate once there is one (the model's "≈ X% ... no guarantee" until audit items
are labeled); a draws an audit, AUDIT_N random unlabeled items shown next and answered with the
same keys, which turns it into the audit's bound "with 95% confidence at least X% of the
positives are found" (holds at every look) and flags parts of the concept the loop had not reached.

Keys: y positive, n negative, s skip, u undo, b new batch now, a audit, q quit, ? help. On a terminal one key press is
enough (cbreak mode via termios; Ctrl-C and Ctrl-D quit); from a pipe each line is one key, so
scripts and tests can drive it (`printf 'y\\nn\\nq\\n' | seals label ...`). End of input quits.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape

from sealsearch.active.strategies import FINDING_STRATEGY
from sealsearch.cli import options as opt
from sealsearch.cli.output import out, user_errors
from sealsearch.errors import InvalidParameterError

app = opt.Typer()

ANSWERS = {"y": "positive", "n": "negative", "s": "skip"}
QUIT_KEYS = {"q", "\x03", "\x04"}  # q, Ctrl-C and Ctrl-D as read in cbreak mode
HELP = "keys: [y] positive  [n] negative  [s] skip  [u] undo  [b] new batch now  [a] audit  [q] quit  [?] help"
AUDIT_N = 20
"""Items one audit draws (as the web page's audit button)."""


OptionalK = Annotated[int | None, *opt.K.__metadata__]  # the shared flags; unset: the library's default
OptionalBatch = Annotated[int | None, *opt.Batch.__metadata__]


def default_labeler() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (containers without a passwd entry)
        return "terminal"


@contextmanager
def key_reader(stream: TextIO) -> Iterator[Callable[[], str]]:
    """A function returning the next key: one key press on a terminal (cbreak mode, restored on
    exit), the first character of the next non-empty line otherwise; "q" at end of input."""
    if stream.isatty():
        import termios
        import tty

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)

        def read_key() -> str:
            try:
                data = os.read(fd, 1)
            except KeyboardInterrupt:
                return "q"
            return data.decode("utf-8", "replace").lower() if data else "q"

        try:
            yield read_key
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        return

    def read_line_key() -> str:
        while True:
            line = stream.readline()
            if not line:
                return "q"
            if line.strip():
                return line.strip()[0].lower()

    yield read_line_key


def describe(item: dict[str, Any], media_dir: Path | None = None) -> str:
    """What a person needs to decide: the text, and for images the file (under the dataset's
    media root when it records one, so a terminal can open it) or else the uri."""
    parts = [str(item["text"])] if item.get("text") else []
    if item.get("uri"):
        parts.append(str(media_dir / item["uri"]) if media_dir is not None else str(item["uri"]))
    return "  ·  ".join(parts) if parts else f"(no text or uri; item {item['id']})"


def _progress_line(stats: dict[str, Any]) -> str:
    labels, positives, pool = (stats.get(key) or 0 for key in ("labels", "positives", "pool_size"))
    line = f"labels {labels:,} · positives {positives:,} · pool {pool:,}"
    estimate = stats.get("estimate")
    if estimate:
        method = (
            "model estimate, no guarantee" if estimate["method"] == "model"
            else f"audit of {estimate['audit_labels']}, holds at every look"
        )  # fmt: skip
        pending = f", {estimate['audit_pending']} audit pending" if estimate.get("audit_pending") else ""
        line += f" · {estimate['text']} [{method}{pending}]"
        if estimate.get("unreached"):
            line += " · ! this concept has parts the loop had not reached (audit positives outside its pool)"
    return line


def label_loop(session: Any, labeler: str, read_key: Callable[[], str], say: Callable[[str], None]) -> int:
    """Show items of `session`'s batches and send each answer; returns the answers acknowledged.

    `session` is a `ConceptSession`; `say` prints one line (rich markup allowed).
    """
    queue: deque[tuple[int | None, str, dict]] = deque()  # (batch, mode, item) still to show
    shown: list[tuple[int | None, str, dict]] = []  # answered, most recent last: what undo reopens
    answered: set[str] = set()  # ids answered in this run, so a repeated batch cannot loop forever
    saved, new = 0, False
    dataset = getattr(getattr(session, "project", None), "dataset", None)
    media_dir = getattr(dataset, "media_dir", None)
    while True:
        if not queue:
            batch = session.next_batch(labeler=labeler, new=new)
            new = False
            fresh = [item for item in batch["items"] if item["id"] not in answered]
            if not fresh:
                say("nothing left to label for this concept" if not batch["items"] else "no new items to label")
                return saved
            queue.extend((batch.get("batch"), batch.get("mode", "active"), item) for item in fresh)
        batch_id, mode, item = queue[0]
        score = "—" if item.get("score") is None else f"{item['score']:.3f}"
        progress = escape(_progress_line(session.stats()))
        say(
            f"\n[bold]{escape(describe(item, media_dir))}[/bold]\n"
            f"[dim]id {escape(str(item['id']))} · score {score} · {mode} · {progress}[/dim]\n"
            f"{escape('[y/n/s/u/b/a/q]')} "
        )
        key = read_key()
        if key in ANSWERS:
            session.label(labeler=labeler, labels=[(item["id"], ANSWERS[key])], batch=batch_id)
            saved += 1
            answered.add(item["id"])
            shown.append(queue.popleft())
            say(f"{ANSWERS[key]}: saved")
        elif key == "u":
            saved -= _undo(session, labeler, queue, shown, answered, say)  # an undo takes an answer back
        elif key == "b":  # the answers so far are this batch's round; a new batch now (audit items stay first)
            audit_left = [entry for entry in queue if entry[1] == "audit"]
            queue.clear()
            queue.extend(audit_left)
            new = True
            say("asking for a new batch")
        elif key == "a":
            _audit(session, labeler, queue, answered, say)
        elif key in QUIT_KEYS:
            left = sum(entry[1] == "audit" for entry in queue)
            if left:
                say(
                    f"{left} audit item{'s' if left != 1 else ''} left unlabeled: they stay drawn and pending "
                    "(the web page's audit shows them)"
                )
            return saved
        else:
            say(escape(HELP))


Queued = tuple[int | None, str, dict]
"""(batch, mode, item): an item `label_loop` shows or has shown."""


def _undo(session: Any, labeler: str, queue: deque[Queued], shown: list[Queued], answered: set[str], say) -> int:
    """Take back the labeler's last label; the item is shown again if this run showed it.
    Returns the answers taken back (0 or 1)."""
    undone = session.undo(labeler=labeler)
    if undone is None:
        say("nothing to undo")
        return 0
    say(f"undid {undone.get('label', 'label')} on {escape(str(undone['id']))}: saved")
    if shown and shown[-1][2]["id"] == undone["id"]:
        queue.appendleft(shown.pop())
        answered.discard(undone["id"])
        return 1
    return 0


def _audit(session: Any, labeler: str, queue: deque[Queued], answered: set[str], say) -> None:
    """Random unlabeled items, shown next and answered like any other."""
    try:
        drawn = session.audit(n=AUDIT_N, labeler=labeler)
    except InvalidParameterError as exc:
        say(escape(str(exc)))
        return
    fresh = [item for item in drawn if item["id"] not in answered]
    queue.extendleft((None, "audit", item) for item in reversed(fresh))
    say(f"audit: {len(fresh)} random unlabeled items next; their labels make the estimate unbiased")


def _settings_line(row: dict[str, Any]) -> str:
    from sealsearch.active.strategies import STRATEGIES

    spec = STRATEGIES.get(row["strategy"])
    words = f"{spec.description}, " if spec is not None and spec.description else ""
    return f"strategy {row['strategy']}: {words}pool {row['pool']}, k {row['k']}, batch size {row['batch_size']}"


def _given_settings(query: Any, positive: Any, strategy: str, pool: str, k: Any, batch_size: Any) -> str:
    """The creation flags given for an existing concept (they only shape a new one)."""
    given = [flag for flag, value in (("--query", query), ("--positive", positive), ("--k", k),
             ("--batch-size", batch_size)) if value]  # fmt: skip
    given += [flag for flag, value, default in (("--strategy", strategy, FINDING_STRATEGY), ("--pool", pool, "seals"))
              if value != default]  # fmt: skip
    return "/".join(given)


@app.command("label")
@user_errors
def label_command(
    project_dir: opt.ProjectDir,
    concept: Annotated[str, typer.Option(help="Concept to label; created from --query or --positive if new.")],
    query: Annotated[str | None, typer.Option(help="Text query that seeds a new concept.")] = None,
    positive: Annotated[
        list[str] | None, typer.Option(help="Item id known to be positive (repeatable): seeds a new concept.")
    ] = None,
    labeler: Annotated[str | None, typer.Option(help="Who is labeling (default: your login name).")] = None,
    strategy: opt.Strategy = FINDING_STRATEGY,
    pool: opt.Pool = "seals",
    k: OptionalK = None,
    batch_size: OptionalBatch = None,
) -> None:
    """Label a concept in the terminal: y positive, n negative, s skip, u undo, b new batch, a audit, q quit.

    Each answer is saved at once; the model learns a batch when it is done (or on b)."""
    from sealsearch.sessions import Project

    labeler = labeler or default_labeler()
    project = Project.open(project_dir)
    try:
        names = [c["name"] for c in project.concepts()]
        if concept not in names:
            if query is None and not positive:
                raise InvalidParameterError(
                    f"concept {concept!r} does not exist in {project_dir}; give --query TEXT or --positive ID to "
                    "create it (list concepts with `seals project concepts`)"
                )
            settings = {"strategy": strategy, "pool": pool, "k": k, "batch_size": batch_size}
            made = project.create_concept(concept, query=query, positives=list(positive or []), **settings)
            out.print(f"created concept {concept!r} ({_settings_line(made)})", highlight=False, markup=False)
        else:
            given = _given_settings(query, positive, strategy, pool, k, batch_size)
            if given:
                out.print(f"concept {concept!r} exists; {given} ignored", highlight=False, markup=False)
        session = project.concept(concept)
        out.print(HELP, highlight=False, markup=False)
        with key_reader(sys.stdin) as read_key:
            saved = label_loop(session, labeler, read_key, lambda line: out.print(line, highlight=False))
        stats = session.stats()
        out.print(f"{saved} answers saved this time; {_progress_line(stats)}", highlight=False, markup=False)
    finally:
        project.close()
