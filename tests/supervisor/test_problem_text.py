"""A rejected reference file's problems, said again in the reader's words: where, which
column by its name, and what, for the problems the parser finds."""

from __future__ import annotations

import pytest

from inspectors.reference_files import ReferenceFileError, ReferenceProblem, parse_reference_csv
from supervisor.web.portal.problem_text import problem_text

_ZH = {
    "line %(line)s, column %(column)s": "第 %(line)s 行第 %(column)s 列",
    "line %(line)s": "第 %(line)s 行",
    "%(value)s is not a date (YYYY-MM-DD)": "%(value)s 不是日期（格式 YYYY-MM-DD）",
    "the header row is wrong: a column appears twice (expected %(expected)s)":
        "表头行有误：有一列出现了两次（应为 %(expected)s）",
}  # fmt: skip
HEADER = "item_code,item_name,unit,ceiling_price,valid_from,valid_to,insurance_covered"


def _problems(content: str) -> tuple[ReferenceProblem, ...]:
    with pytest.raises(ReferenceFileError) as rejected:
        parse_reference_csv("prices", content.encode())
    return rejected.value.problems


def test_a_bad_date_is_located_and_said_in_chinese() -> None:
    (problem,) = _problems(f"{HEADER}\nP1,复诊费,次,25.00,2026/10/01,,true\n")
    said = problem_text(problem, lambda s: _ZH.get(s, s), {"valid_from": "生效日期"})
    assert said == "第 2 行第 5 列 (生效日期): '2026/10/01' 不是日期（格式 YYYY-MM-DD）"
    assert str(problem) == "line 2, column 5 (valid_from): '2026/10/01' is not a date (YYYY-MM-DD)"


def test_a_column_twice_is_said_as_such() -> None:
    (problem,) = _problems(f"{HEADER},unit\n")
    said = problem_text(problem, lambda s: _ZH.get(s, s), {})
    assert said.startswith("第 1 行: 表头行有误：有一列出现了两次")


def test_a_problem_without_a_key_keeps_its_own_words() -> None:
    problem = ReferenceProblem("cn=someone,ou=people", "name", "not in the directory")
    assert problem_text(problem, lambda s: s, {"name": "姓名"}) == (
        "cn=someone,ou=people (姓名): not in the directory"
    )
