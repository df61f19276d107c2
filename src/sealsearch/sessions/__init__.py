"""The labeling product's core: projects, concepts and the append-only label log (docs/labeling.md).

`Project` and `ConceptSession` load on first use, so `import sealsearch.sessions` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ConceptSession", "LabelStore", "Project"]


def __getattr__(name: str) -> Any:
    if name == "Project":
        from sealsearch.sessions.project import Project

        return Project
    if name == "ConceptSession":
        from sealsearch.sessions.session import ConceptSession

        return ConceptSession
    if name == "LabelStore":
        from sealsearch.sessions.labelstore import LabelStore

        return LabelStore
    raise AttributeError(f"module 'sealsearch.sessions' has no attribute {name!r}")


if TYPE_CHECKING:
    from sealsearch.sessions.labelstore import LabelStore
    from sealsearch.sessions.project import Project
    from sealsearch.sessions.session import ConceptSession
