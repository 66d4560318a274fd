"""The CJK font reports print with: an embedded TrueType font found through fontconfig
(never assumed at a fixed path), else reportlab's built-in CID font STSong-Light.

STSong-Light is one of the Adobe CJK fonts every PDF viewer carries, so a PDF that
names it without embedding it opens everywhere: a machine with no CJK font installed
still gets readable reports, and is told once how to embed a font instead.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

__all__ = [
    "BUILT_IN_FONT",
    "FONT_NAME",
    "FontMissingError",
    "embedded_font_file",
    "register_report_font",
]

FONT_NAME = "CareledgerCJK"
#: reportlab's built-in CID font for Simplified Chinese (not embedded; in every viewer).
BUILT_IN_FONT = "STSong-Light"
_log = logging.getLogger("careledger.reports")
# Noto CJK would print the same text, but its outlines are CFF, which reportlab cannot embed.
_FAMILIES = ("WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
_INSTALL_HINT = (
    "reports need a TrueType CJK font to print Chinese and none was found: install "
    "Debian's fonts-wqy-zenhei (apt-get install fonts-wqy-zenhei)"
)


class FontMissingError(RuntimeError):
    """No usable CJK font on this machine (kept for callers; the built-in font stands in)."""


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


def embedded_font_file() -> Path | None:
    """The TrueType CJK font file reports would embed, or None (``careledger doctor``)."""
    for family in _FAMILIES:
        path = _font_file(family)
        if path is not None:
            return path
    return None


@cache
def register_report_font() -> str:
    """Register the CJK font with reportlab (once) and return its name: the embedded
    TrueType font when one is installed, else the built-in ``STSong-Light``, said once."""
    path = embedded_font_file()
    if path is not None:
        index = 0 if path.suffix.lower() in {".ttc", ".otc"} else None
        font = (
            TTFont(FONT_NAME, str(path), subfontIndex=index)
            if index is not None
            else TTFont(FONT_NAME, str(path))
        )
        pdfmetrics.registerFont(font)
        return FONT_NAME
    pdfmetrics.registerFont(UnicodeCIDFont(BUILT_IN_FONT))
    _log.warning(
        "no TrueType CJK font found: report PDFs use the built-in font %s, which every PDF "
        "viewer has but which is not embedded; %s to embed one",
        BUILT_IN_FONT,
        _INSTALL_HINT.split(": ", 1)[1],
    )
    return BUILT_IN_FONT
