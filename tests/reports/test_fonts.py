"""Without a usable CJK font, a report is refused with what to install, not printed as boxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reports import fonts


@pytest.fixture
def fresh_registration() -> Iterator[None]:
    fonts.register_report_font.cache_clear()
    yield
    fonts.register_report_font.cache_clear()


def test_no_cjk_font_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, fresh_registration: None
) -> None:
    monkeypatch.setattr(fonts, "_font_file", lambda family: None)
    with pytest.raises(fonts.FontMissingError, match="apt-get install fonts-wqy-zenhei"):
        fonts.register_report_font()


def test_no_fontconfig_or_only_a_fallback_font_finds_nothing(
    monkeypatch: pytest.MonkeyPatch, fresh_registration: None
) -> None:
    """Without fc-match there is nothing to ask; and fc-match answers every query, so an
    answer naming another family (a Latin fallback) is no CJK font at all."""
    monkeypatch.setenv("PATH", str(Path(__file__).parent / "no-such-dir"))
    assert fonts._font_file("WenQuanYi Zen Hei") is None
    monkeypatch.undo()
    assert fonts._font_file("No Such Family Whatsoever") is None
