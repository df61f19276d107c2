"""What may name a concept: one rule for the library, the CLI and the web app.

A concept name is shown in tables, file names and URLs (`/c/NAME`, `/api/concepts/NAME/...`),
so it must read as what it is and be addressable: no control characters, no invisible format
characters (bidi overrides and isolates, zero-width spaces and joiners, which make two different
names look alike or reorder the text around them), no line separators, no `/` or `\\` (a path
step the web cannot address), and not `.` or `..`.
"""

from __future__ import annotations

import unicodedata

from sealsearch.errors import InvalidParameterError

MAX_NAME_LENGTH = 200
REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character (bidi or zero-width)",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
REFUSED_CHARACTERS = {"/": "a slash", "\\": "a backslash"}
FIX = "use letters, digits, spaces and visible punctuation other than / and \\"


def check_concept_name(name: object) -> str:
    """`name` with surrounding spaces removed, or an InvalidParameterError naming the first
    refused character by its code point."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError("concept name: must be a non-empty string; choose a word such as 'dog'")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterError(f"concept name: {len(name)} characters, at most {MAX_NAME_LENGTH}; shorten it")
    if name in (".", ".."):
        raise InvalidParameterError(f"concept name: {name!r} is a path step, not a name; choose a word")
    for position, char in enumerate(name):
        what = REFUSED_CHARACTERS.get(char) or REFUSED_CATEGORIES.get(unicodedata.category(char))
        if what is not None:
            code = f"U+{ord(char):04X}"
            title = unicodedata.name(char, "")
            shown = f"{code} {title}" if title else code
            raise InvalidParameterError(
                f"concept name: character {position + 1} is {what} ({shown}), which is not allowed; {FIX}"
            )
    return name
