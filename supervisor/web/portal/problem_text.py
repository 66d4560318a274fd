"""A rejected reference file's problems in the reader's language.

``inspectors.reference_files`` says each problem in English for the command line and
gives its key and parameters; this says it again where the portal's reader reads it:
where (line, column, byte), which column by its name, and what.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from inspectors.reference_files import ReferenceProblem

__all__ = ["problem_text"]

_LINE = re.compile(r"line (\d+)(?:, column (\d+))?")
_BYTE = re.compile(r"byte (\d+)")


def _messages(_: Callable[[str], str]) -> dict[str, str]:
    return {
        "several": _("one value expected, several given"),
        "required": _("required"),
        "too_long": _("longer than 200 characters"),
        "not_code": _("%(value)s is not a code (letters, digits, '.', '_', '-')"),
        "not_date": _("%(value)s is not a date (YYYY-MM-DD)"),
        "not_choice": _("%(value)s is not one of %(options)s"),
        "not_boolean": _("%(value)s is not true or false"),
        "not_price": _("%(value)s is not a price in yuan (e.g. 25.00)"),
        "not_days": _("%(value)s is not a number of days between 1 and 366"),
        "duplicate": _("%(code)s appears again (first at %(first)s)"),
        "overlap": _("%(code)s's validity overlaps the row at %(other)s"),
        "no_rows": _("has no rows"),
        "ends_early": _("ends before it starts (valid_to is before valid_from)"),
        "not_utf8": _("the file is not UTF-8 text"),
        "empty": _("the file is empty"),
        "header": _(
            "the header row is wrong: missing %(missing)s; unknown %(unknown)s"
            " (expected %(expected)s)"
        ),
        "field_count": _("%(fields)s fields, the header has %(header)s"),
        "too_many_rows": _("too many rows"),
        "not_csv": _("not valid CSV: %(detail)s"),
    }  # fmt: skip


def _where(text: str, _: Callable[[str], str]) -> str:
    if (line := _LINE.fullmatch(text)) is not None:
        if line.group(2):
            return _("line %(line)s, column %(column)s") % {
                "line": line.group(1),
                "column": line.group(2),
            }
        return _("line %(line)s") % {"line": line.group(1)}
    if (byte := _BYTE.fullmatch(text)) is not None:
        return _("byte %(byte)s") % {"byte": byte.group(1)}
    if text == "the file":
        return _("the file")
    return text  # a directory entry's name, say: shown as it is


def problem_text(
    problem: ReferenceProblem, _: Callable[[str], str], columns: Mapping[str, str]
) -> str:
    """One problem as a sentence in the reader's language (``_`` is their gettext)."""
    template = _messages(_).get(problem.key)
    params = dict(problem.params)
    if problem.key == "header":
        twice = bool(params.get("twice"))
        params = {k: params.get(k) or "—" for k in ("missing", "unknown", "expected")}
        if twice:
            template = _("the header row is wrong: a column appears twice (expected %(expected)s)")
    for name in ("first", "other"):
        if name in params:
            params[name] = _where(params[name], _)
    what = template % params if template is not None else problem.message
    where = _where(problem.where, _)
    if problem.column:
        where = f"{where} ({columns.get(problem.column, problem.column)})"
    return f"{where}: {what}"
