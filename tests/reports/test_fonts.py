"""Without a usable CJK font, reports still print Chinese (the built-in CID font), and say
once what to install to embed one; never boxes."""

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


def test_no_cjk_font_falls_back_to_the_built_in_one_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, fresh_registration: None, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fonts, "_font_file", lambda family: None)
    assert fonts.register_report_font() == "STSong-Light"
    assert fonts.register_report_font() == "STSong-Light"
    said = [r.getMessage() for r in caplog.records if "STSong-Light" in r.getMessage()]
    assert len(said) == 1 and "apt-get install fonts-wqy-zenhei" in said[0]


def test_no_fontconfig_or_only_a_fallback_font_finds_nothing(
    monkeypatch: pytest.MonkeyPatch, fresh_registration: None
) -> None:
    """Without fc-match there is nothing to ask; and fc-match answers every query, so an
    answer naming another family (a Latin fallback) is no CJK font at all."""
    monkeypatch.setenv("PATH", str(Path(__file__).parent / "no-such-dir"))
    assert fonts._font_file("WenQuanYi Zen Hei") is None
    monkeypatch.undo()
    assert fonts._font_file("No Such Family Whatsoever") is None
