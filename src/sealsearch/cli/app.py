"""`seals`: a thin command line over the library.

Each command opens library objects and calls one function; `SealsearchError`s become a one-line
`error: ...` on stderr and their exit code (2 for a bad flag value); library progress callbacks
become rich progress bars. Commands import the library inside their body, so `seals --help`
loads neither pandas, Faiss nor scikit-learn.

Where things live:
- `output.py`: consoles, `user_errors` (library errors with their parameters shown as flags, and
  every OSError, as one line), progress bars, `frame_table`.
- `paths.py`: the one rule every output goes through (`check_outputs`: never over an input or
  into a dataset or project, an existing file only with `--force`).
- `options.py`: every option shared by two commands, declared once, and the one parser of
  multi-valued flags (`--strategy a,b --strategy c`), concept choices and registry names.
- one module per command group, each with its own `app = opt.Typer()`: `data` (dataset,
  concepts), `importing` (import, embed), `index` (index build/graph), `simulate` (run, compare, demo, experiment),
  `analysis` (analyze, report, predict), `project` (project init/concepts), `serve` (the web
  labeling app), `label` (terminal labeling), `export` (labels and model of a project).

Adding a command group: write `cli/<group>.py` with `app = opt.Typer()` (its commands are
`options.Command`s: registry names in help, deprecated spellings, one-line usage errors) and its
commands (`@app.command("name")` + `@user_errors`; a nested group via `app.add_typer(sub,
name=...)`), using options from `options.py` (numeric ones declare min/max), every output through
`paths.check_outputs`, then add the module to `GROUPS` below. `tests/cli/test_cli.py` checks
that `seals --help` lists it.
"""

from __future__ import annotations

import typer

from sealsearch.cli import analysis, data, doctor, export, importing, index, label, project, serve, simulate

app = typer.Typer(
    help="SEALS: find and learn rare concepts in huge unlabeled pools.", no_args_is_help=True, add_completion=False
)
GROUPS = (data, importing, index, simulate, analysis, project, serve, label, export, doctor)
"""Command modules, in the order `seals --help` lists their commands."""
for group in GROUPS:
    app.add_typer(group.app)
