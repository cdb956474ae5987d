"""The language a page speaks (``?lang=``, else the browser's Accept-Language, else the rule file's
default) and config texts given per language."""

from __future__ import annotations

from flask import request

from routes.state import hub

LANGUAGES = ("en", "ru")


def request_language() -> str:
    """The page language for this request: one of :data:`LANGUAGES`."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or hub().config.texts.default_language


def localize(text: str | dict[str, str], language: str) -> str:
    """A config text in ``language``, falling back to English, then to any language given."""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get("en") or next(iter(text.values()), "")
