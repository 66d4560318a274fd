"""What free text people and platforms type may hold: printable text, not control codes.

A NUL cannot be stored in PostgreSQL text at all (SQLite takes it: the same input would
succeed on one database and fail on the other); other control codes break e-mail
headers and CSV cells; bidirectional overrides make a file name read as another
(``\\u202egpj.exe``). Pure.
"""

from __future__ import annotations

__all__ = ["unprintable"]

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def unprintable(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` may not be stored (the first offending character, named), or None.
    ``multiline`` allows tabs and line breaks (a statement; not a name or a header)."""
    for position, char in enumerate(text):
        code = ord(char)
        if multiline and char in "\t\r\n":
            continue
        if code < 32 or 0x7F <= code <= 0x9F or char in _BIDI_CONTROLS:
            return f"holds the control character U+{code:04X} at position {position}"
    return None
