"""CSAT's button data and signed links: only the hub's own, unaltered, name a survey and a choice."""

from __future__ import annotations

import pytest

from config.settings import Settings
from mappers import csat
from mappers.csat import Choice, CsatLinkError
from mappers.route_links import NoSecretKey, route_link_token

SETTINGS = Settings(HUB_SECRET_KEY="csat-secret-" + "k" * 20, HUB_PUBLIC_URL="https://hub.example")
SURVEY = "0123456789abcdef0123"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (f"csat:{SURVEY}:1", Choice(SURVEY, 1)),
        (f"csat:{SURVEY}:5", Choice(SURVEY, 5)),
        (f"csat:{SURVEY}:stop", Choice(SURVEY, None)),
        (f"csat:{SURVEY}:6", None),
        (f"csat:{SURVEY}:0", None),
        (f"csat:{SURVEY[:-1]}:3", None),
        (f"take:{SURVEY}", None),
        (f"csat:{SURVEY}:3 ", None),
    ],
)
def test_button_data_names_a_survey_and_a_choice_or_nothing(data: str, expected: Choice | None) -> None:
    assert csat.parse_choice(data) == expected


def test_a_link_reads_back_and_a_tampered_or_foreign_one_is_refused() -> None:
    url = csat.link_url(SETTINGS, Choice(SURVEY, 4))
    token = url.removeprefix("https://hub.example/csat/")
    assert csat.read_link(SETTINGS, token) == Choice(SURVEY, 4)
    assert csat.read_link(SETTINGS, csat.link_token(SETTINGS, Choice(SURVEY, None))).stop
    with pytest.raises(CsatLinkError):
        csat.read_link(SETTINGS, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    with pytest.raises(CsatLinkError):  # a routing link is signed by the same key, for another purpose
        csat.read_link(SETTINGS, route_link_token(SETTINGS, "jira", "SUP-1"))
    other = Settings(HUB_SECRET_KEY="another-secret-" + "k" * 20)
    with pytest.raises(CsatLinkError):
        csat.read_link(other, token)
    with pytest.raises(NoSecretKey):
        csat.link_url(Settings(), Choice(SURVEY, 1))


def test_the_keyboard_offers_the_scale_and_dont_ask_me_again() -> None:
    faces = csat.keyboard(SURVEY, {1: "😞", 3: "😐", 5: "🙂"}, "ru")["inline_keyboard"]
    assert [b["callback_data"] for b in faces[0]] == [f"csat:{SURVEY}:{n}" for n in (1, 3, 5)]
    assert faces[1] == [{"text": "Больше не спрашивать", "callback_data": f"csat:{SURVEY}:stop"}]
    assert all(len(b["callback_data"].encode()) <= 64 for row in faces for b in row)
