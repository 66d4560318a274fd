"""The CJK font every report embeds: found through fontconfig, never assumed at a fixed path."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

__all__ = ["FONT_NAME", "FontMissingError", "register_report_font"]

FONT_NAME = "CareledgerCJK"
# Noto CJK would print the same text, but its outlines are CFF, which reportlab cannot embed.
_FAMILIES = ("WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
_INSTALL_HINT = (
    "reports need a TrueType CJK font to print Chinese and none was found: install "
    "Debian's fonts-wqy-zenhei (apt-get install fonts-wqy-zenhei)"
)


class FontMissingError(RuntimeError):
    """No usable CJK font on this machine."""


def _font_file(family: str) -> Path | None:
    """The file fontconfig picks for ``family``, if it is really that family."""
    if shutil.which("fc-match") is None:
        return None
    result = subprocess.run(
        ["fc-match", "-f", "%{family}\n%{file}", family],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    # fc-match always answers with something; a fallback Latin font cannot print Chinese.
    if result.returncode != 0 or len(lines) < 2 or family.lower() not in lines[0].lower():
        return None
    path = Path(lines[1])
    return path if path.is_file() else None


@cache
def register_report_font() -> str:
    """Register the CJK font with reportlab (once) and return its name.

    Raises ``FontMissingError`` with what to install when none is found.
    """
    for family in _FAMILIES:
        path = _font_file(family)
        if path is not None:
            index = 0 if path.suffix.lower() in {".ttc", ".otc"} else None
            font = (
                TTFont(FONT_NAME, str(path), subfontIndex=index)
                if index is not None
                else TTFont(FONT_NAME, str(path))
            )
            pdfmetrics.registerFont(font)
            return FONT_NAME
    raise FontMissingError(_INSTALL_HINT)
