"""The labeling web app (`seals serve`): a FastAPI REST API over a `Project`, and plain
Jinja2/JS pages that call that same API. See app.py."""

from sealsearch.web.app import create_app, get_project

__all__ = ["create_app", "get_project"]
