"""Golden tests: every mail of the shared corpora parses to what its expectation file says.

Two corpora live beside the checkout, in ``../shared/fixtures`` (never copied into the project):

- ``mail-synthetic-ru``: our own Russian edge cases, with ``EXPECTED.json``;
- ``mail-zammad``: Zammad's parser fixtures (AGPL, so read in place only) with Ruby-tagged
  ``.expected.yml`` files. Where we deliberately differ from Zammad, ``ZAMMAD_OVERRIDES`` names the
  file, the field, our value and the reason; the assertion still runs, against our value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mappers.email import parse_email
from mappers.html_text import html_to_text
from mappers.models import MessageKind
from mappers.subjects import clean_subject

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "fixtures"
RU_DIR = SHARED / "mail-synthetic-ru"
ZAMMAD_DIR = SHARED / "mail-zammad"
NOW = dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.UTC)
MOJIBAKE = ("\ufffd", "Ð", "Ñ", "Ã", "â€", "Ð¾", "Р°", "Ñ€")
NO_CONTENT = "no visible content"


def _parse(path: Path):
    return parse_email(path.read_bytes(), received_at=NOW, own_domain="hub.example.com")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- mail-synthetic-ru ------------------------------------------------------------------------------

RU_EXPECTED: dict[str, dict[str, Any]] = (
    json.loads((RU_DIR / "EXPECTED.json").read_text(encoding="utf-8")) if RU_DIR.is_dir() else {}
)
RU_FILES = sorted(p.name for p in RU_DIR.glob("*.eml")) if RU_DIR.is_dir() else []


@pytest.mark.skipif(not RU_DIR.is_dir(), reason="../shared/fixtures/mail-synthetic-ru is absent")
def test_every_synthetic_mail_has_an_expectation():
    assert RU_FILES and set(RU_FILES) == set(RU_EXPECTED)


@pytest.mark.skipif(not RU_DIR.is_dir(), reason="../shared/fixtures/mail-synthetic-ru is absent")
@pytest.mark.parametrize("name", RU_FILES)
def test_synthetic_ru(name: str):
    expected = RU_EXPECTED[name]
    msg = _parse(RU_DIR / name)
    checked = 0
    if "from_display_name" in expected:
        assert msg.sender.name == expected["from_display_name"]
        checked += 1
    if "from_email" in expected:
        assert msg.sender.email == expected["from_email"]
        checked += 1
    if "subject" in expected:
        assert msg.subject == expected["subject"]
        checked += 1
    if "clean_subject" in expected:
        assert clean_subject(msg.subject) == expected["clean_subject"]
        checked += 1
    if "body_text" in expected:
        assert msg.text.strip() == expected["body_text"].strip()
        checked += 1
    if "attachments" in expected:
        assert [a.filename for a in msg.attachments] == expected["attachments"]
        checked += 1
    if "is_auto_reply" in expected:
        assert (msg.kind is MessageKind.AUTO_REPLY) == expected["is_auto_reply"]
        checked += 1
    if "is_bounce" in expected:
        assert (msg.kind is MessageKind.BOUNCE) == expected["is_bounce"]
        checked += 1
    if "bounced_message_id" in expected:
        assert msg.email.bounced_message_id == expected["bounced_message_id"]
        checked += 1
    if "status" in expected:
        assert msg.email.bounce_status == expected["status"]
        checked += 1
    if "final_recipient" in expected:
        assert msg.email.bounce_recipient == expected["final_recipient"]
        checked += 1
    if "in_reply_to" in expected:
        assert msg.email.in_reply_to == [expected["in_reply_to"]]
        checked += 1
    assert checked >= 1
    assert not any(marker in msg.text + msg.subject + msg.sender.name for marker in MOJIBAKE)


# --- mail-zammad -----------------------------------------------------------------------------------


class _RubyTolerantLoader(yaml.SafeLoader):
    """A SafeLoader that reads ``!ruby/...`` tagged nodes as plain maps, lists and scalars."""


def _construct_untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyTolerantLoader.add_multi_constructor("!", _construct_untagged)  # !ruby/..., !binary

ZAMMAD_FILES = sorted(p.name for p in ZAMMAD_DIR.glob("*.box")) if ZAMMAD_DIR.is_dir() else []

_RFC2047_ADDR = "RFC 2047 section 5: an encoded word is not allowed in an addr-spec, so we keep it as written"
_BETTER_TEXT = "Zammad finds no text in this broken MIME; we recover the text part"
_PLAIN_PREFERRED = "we prefer the text/plain alternative (Zammad the HTML); here the two differ"
# file -> field -> (our value, why we differ from Zammad)
ZAMMAD_OVERRIDES: dict[str, dict[str, tuple[Any, str]]] = {
    "mail017.box": {"body": ("宝马4系敞篷版曝光 洛杉矶车展正式发布美国华人万人游行人物", _PLAIN_PREFERRED)},
    "mail043.box": {"body": ("HTML newsletter could be read here:", _PLAIN_PREFERRED)},
    "mail053.box": {
        "from_email": (None, "From has no address at all (MAILER-DAEMON, no @): we keep no e-mail"),
        "attachments": (
            {"Delivery report.txt", "Undelivered Message Headers.txt"},
            "a nameless part is named by its Content-Description (RFC 2045 section 8), not 'file'",
        ),
    },
    "mail060.box": {
        "body": (
            "Here it goes - äöü - 差出人Here it goes - äöü - hi",
            "undeclared 'iso-gb2312': mostly UTF-8 with stray Latin-1 bytes; we decode both, Zammad mangles",
        ),
    },
    "mail064.box": {
        "attachments": (
            {"Capture d\u2019\u00e9cran 2017-12-27 \u00e0 12.22.38.jpg"},
            "filenames are NFC-normalised (macOS sends NFD); Zammad keeps the combining accents",
        ),
    },
    "mail065.box": {
        "from_display_name": (
            "Bürling, Andreas",
            "a comma inside an encoded word does not split the address list; Zammad splits it",
        ),
    },
    "mail072.box": {
        "body": (
            "Bonjour, Je vous contacte suite à ma commande du 14 août 2018",
            _PLAIN_PREFERRED + "; and windows-1258 decodes to 'à', where Zammad shows 'ŕ'",
        ),
    },
    "mail080.box": {
        "attachments": ({"attachment-1.jpg"}, "a blank filename gets our generated name, not 'image.jpg'"),
    },
    "mail085.box": {
        "body": ("Liebes Team, Mit freundlichen Grüßen", _PLAIN_PREFERRED),
        "attachments": (
            set(),
            "the HTML alternative's parts are not attachments once the plain one is chosen",
        ),
    },
    "mail018.box": {
        "subject": (
            "Benachrichtung zum Übermittlungsstatus (Fehlgeschlagen)",
            "we decode the obsolete unicode-1-1-utf-7 charset (and spaces inside the encoded word); "
            "Zammad leaves the raw UTF-7",
        ),
        "body": (
            "Dies ist eine automatisch erstellte Benachrichtigung über den Zustellstatus.",
            "the body's UTF-7 is decoded too",
        ),
    },
    "mail054.box": {
        "body": ("some text", "we mend the unindented folded header and so reach the body Zammad misses"),
    },
    "mail071.box": {
        "from_email": (
            "system@example.com",
            "the address has spaces without quotes; we keep the token with @, Zammad the whole string",
        ),
    },
    "mail076.box": {
        "from_email": (
            '"Millions Lottery Spain transfer"@example.com',
            "a quoted local part is valid (RFC 5322 3.4.1); the stray '>' after it is not part of it",
        ),
        "from_display_name": ("", "the mail has an addr-spec only, no display name"),
    },
    "mail087.box": {
        "from_email": ("test@example.com", "'Test test@example.com' without brackets: the token with @"),
        "from_display_name": ("Test", "the other token is the name"),
        "body": (
            "Sehr geehrter Kunde, Sie haben soeben ein neues Fax",
            "the text part after the missing closing boundary is recovered",
        ),
        "attachments": ({"fax_1234.pdf"}, "the text part is the body, not a nameless 'file' attachment"),
    },
    "mail105.box": {"body": ("äöüß ad asd", _BETTER_TEXT)},
    "mail117.box": {"from_email": ("=?utf-8?Q?attacker?Q?agent?=@victim.example", _RFC2047_ADDR)},
    "mail118.box": {"from_email": ("=?utf-8?Q?agent?=@example.com", _RFC2047_ADDR)},
}


def _expected_names(expected: dict[str, Any]) -> set[str]:
    """Attachment names, without the 'message.html' copy of an HTML body that Zammad adds."""
    names = {a["filename"] for a in expected.get("attachments") or []}
    if expected.get("content_type") == "text/html":
        names.discard("message.html")
    return names


def _expected_text(expected: dict[str, Any]) -> str:
    body = expected.get("body") or ""
    if expected.get("content_type") == "text/html":
        body = html_to_text(body)
    return _norm(body)


def _normalize_email(address: str | None) -> str | None:
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _value(name: str, field: str, zammad_value: Any) -> Any:
    override = ZAMMAD_OVERRIDES.get(name, {}).get(field)
    return override[0] if override else zammad_value


def _body_matches(ours: str, theirs: str) -> bool:
    """Our text starts like Zammad's (we strip quoted history, so ours may be shorter)."""
    ours = _norm(ours)
    length = min(len(ours), len(theirs), 160)
    return length > 0 and ours[:length] == theirs[:length]


@pytest.mark.skipif(not ZAMMAD_DIR.is_dir(), reason="../shared/fixtures/mail-zammad is absent")
@pytest.mark.parametrize("name", ZAMMAD_FILES)
def test_zammad_mail(name: str):
    expected = yaml.load(
        (ZAMMAD_DIR / name.replace(".box", ".expected.yml")).read_text(encoding="utf-8"),
        Loader=_RubyTolerantLoader,
    )
    msg = _parse(ZAMMAD_DIR / name)

    assert msg.sender.email == _value(name, "from_email", _normalize_email(expected.get("from_email")))
    if "from_display_name" in expected:
        assert msg.sender.name == _value(
            name, "from_display_name", _norm(expected["from_display_name"] or "")
        )
    assert msg.subject == _value(name, "subject", _norm(expected.get("subject") or ""))
    assert {a.filename for a in msg.attachments} == _value(name, "attachments", _expected_names(expected))

    theirs = _expected_text(expected)
    override = ZAMMAD_OVERRIDES.get(name, {}).get("body")
    if override:
        assert _norm(msg.text).startswith(override[0])
    elif theirs == NO_CONTENT:
        assert msg.text == ""
    else:
        assert _body_matches(msg.text, theirs), (msg.text[:200], theirs[:200])

    expected_raw = json.dumps(expected, ensure_ascii=False)
    for marker in MOJIBAKE:
        if marker not in expected_raw:
            assert marker not in msg.text + msg.subject + msg.sender.name, marker


def test_overrides_name_existing_files():
    if not ZAMMAD_DIR.is_dir():
        pytest.skip("../shared/fixtures/mail-zammad is absent")
    assert set(ZAMMAD_OVERRIDES) <= set(ZAMMAD_FILES)
    assert all(reason for fields in ZAMMAD_OVERRIDES.values() for _value, reason in fields.values())
