"""The portal's languages: Simplified Chinese by default, English on request.

Source strings are English in the templates and views; the Chinese
catalogue is ``translations/zh_Hans_CN/LC_MESSAGES/messages.po`` (compiled
to ``.mo`` beside it; a test checks the two agree). The choice is kept in
the session, never guessed from the browser: staff of a Chinese regulator
read Chinese unless they ask otherwise.

After changing a message (from ``supervisor/web/portal``)::

    pybabel extract -F babel.cfg -k _ -o /tmp/messages.pot .
    pybabel update -i /tmp/messages.pot -d translations
    # translate in translations/zh_Hans_CN/LC_MESSAGES/messages.po, then
    pybabel compile -d translations
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, session
from flask_babel import Babel

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "install_i18n", "selected_language"]

DEFAULT_LANGUAGE = "zh_Hans_CN"
#: locale -> (name shown in the switch, HTML lang attribute)
LANGUAGES = {"zh_Hans_CN": ("简体中文", "zh-CN"), "en": ("English", "en")}


def selected_language() -> str:
    chosen = session.get("language")
    return chosen if isinstance(chosen, str) and chosen in LANGUAGES else DEFAULT_LANGUAGE


def install_i18n(app: Flask) -> None:
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LANGUAGE
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(__file__).parent / "translations")
    Babel(app, locale_selector=selected_language)

    @app.context_processor
    def languages() -> dict[str, object]:
        current = selected_language()
        return {"languages": LANGUAGES, "language": current, "html_lang": LANGUAGES[current][1]}
