"""A first run on a machine with no CJK font: fontconfig pointed at an empty font set.

Reports still come out, in the built-in CID font STSong-Light (not embedded; every PDF
viewer has it), the machine is told once how to embed a font instead, and the PDFs open
and read back in Chinese; rendered on a reader's machine (poppler with its CJK data),
page 1 shows the text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from .conftest import CARELEDGER

pytestmark = pytest.mark.slow


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CARELEDGER, *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_reports_print_chinese_without_any_cjk_font_installed(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is required: apt-get install poppler-utils poppler-data")
    empty = tmp_path / "no-fonts.conf"
    empty.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
        f"<fontconfig><dir>{tmp_path / 'no-fonts'}</dir>"
        f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n"
    )
    env = dict(os.environ, FONTCONFIG_FILE=str(empty), CARELEDGER_DATA_DIR=str(tmp_path / "var"))
    probe = subprocess.run(
        ["fc-match", "-f", "%{family}", "WenQuanYi Zen Hei"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "WenQuanYi" not in probe.stdout  # the machine really has no CJK font now
    _run(env, "init")
    _run(env, "demo", "ledger", "--entries", "20")
    out = tmp_path / "out"
    made = _run(env, "report", "generate", "--kind", "digest", "--period", "2026-11-30",
                "--out", str(out), "--allow-empty")  # fmt: skip
    assert made.stderr.count("STSong-Light") == 1 and "fonts-wqy-zenhei" in made.stderr
    zh = next(out.glob("*-zh.pdf"))
    reader = PdfReader(zh)
    assert "互联网诊疗智能监管简报" in reader.pages[0].extract_text()
    assert b"/BaseFont /STSong-Light" in zh.read_bytes()  # named, not embedded
    # On the reader's machine (fonts as this one normally has them).
    rendered = subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(zh), str(tmp_path / "page")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rendered.returncode == 0 and "Missing language pack" not in rendered.stderr, (
        rendered.stderr + " (apt-get install poppler-data)"
    )
    assert (tmp_path / "page-1.png").stat().st_size > 10_000  # text drawn, not a blank page
