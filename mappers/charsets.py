"""Turn mail bytes into text: declared charsets that lie, undeclared 8-bit, and RFC 2047 encoded words.

Russian mail is the hard case. Old clients send KOI8-R or windows-1251 without declaring it, declare
``us-ascii`` over cp1251 bytes, or split a multibyte character across two encoded words. A generic
detector guesses badly on a short subject (it calls ``Вопрос по договору`` in cp1251 Korean), so the
single-byte Cyrillic and Latin candidates are scored here by word shape and letter frequency first, and
the generic detector (charset-normalizer) only gets what no candidate explains.

Everything here is pure and never raises on bad input: the last resort is latin-1, which maps every byte.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterable
from email.message import Message

import charset_normalizer

# Names seen in real mail that Python's codec registry does not know, or knows under another name.
_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "unicode-1-1-utf-8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "ks_c_5601-1987": "cp949",  # Outlook's name for its Korean code page, which also has Cyrillic
    "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "gb2312": "gb18030",  # senders label GBK/GB18030 text as GB2312; GB18030 is a superset
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "cp-1251": "cp1251",
    "win-1251": "cp1251",
    "x-cp1251": "cp1251",
    "koi8r": "koi8-r",
    "x-mac-cyrillic": "mac-cyrillic",
    "windows-874": "cp874",
}
_NOT_A_CHARSET = {"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default", "8bit", "binary"}
# Encodings whose bytes are 7-bit ASCII but mean something else: never shortcut them as ASCII.
_SEVEN_BIT_STATEFUL = ("utf-7", "iso2022", "iso-2022", "hz")
# Declared charsets that often cover undeclared Cyrillic bytes (old Russian clients): check them.
_OFTEN_WRONG = {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}
_SCORED_CANDIDATES = ("cp1251", "koi8-r", "cp1252")
_CJK_AND_OTHERS = [
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "gb18030",
    "big5",
    "cp949",
    "iso8859_15",
    "cp866",
    "utf_16",
]
_FREQUENT_RUSSIAN = set("оеаинтсрвлкмдпуяыь")
_CONFIDENT = 0.75
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_WORD = re.compile(r"[^\W\d_]+")


@functools.lru_cache(maxsize=256)
def normalize_charset(name: str | None) -> str | None:
    """A Python codec name for a declared charset, or None when it is unknown or not a text encoding."""
    if not name:
        return None
    key = name.strip().strip("\"'").lower()
    key = key.split("*", 1)[0]  # RFC 2231 section 5: "utf-8*ru" names a language too
    if key in _NOT_A_CHARSET:
        return None
    key = _ALIASES.get(key, key)
    try:
        b"a".decode(key)  # bytes.decode refuses non-text codecs such as base64 or rot13
    except (LookupError, UnicodeError, ValueError):
        return None
    return key


def _is_seven_bit_stateful(charset: str) -> bool:
    return charset.replace("_", "-").startswith(_SEVEN_BIT_STATEFUL)


def _try_decode(data: bytes, charset: str) -> str | None:
    try:
        return data.decode(charset)
    except (UnicodeError, LookupError, ValueError):
        return None


def _script_ok(word: str, charset: str) -> bool:
    non_ascii = sum(1 for ch in word if ord(ch) > 127)
    if charset == "cp1252":
        # Accented letters are a minority of a real Latin-script word; cp1251 read as cp1252 is not.
        return non_ascii * 2 <= len(word)
    return all("\u0400" <= ch <= "\u045f" for ch in word)  # no Latin letters inside a Cyrillic word


def _plausibility(text: str, charset: str) -> float:
    """How much a decoding looks like natural text: 0..1, by word case shape, script and frequency."""
    good = 0.0
    total = 0
    cyrillic = frequent = 0
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        total += len(word)
        if not _script_ok(word, charset):
            continue
        if word.islower() or word.istitle():
            good += len(word)
        elif word.isupper():
            good += len(word) * 0.6  # a shouting word is possible, a whole text of them less so
        for ch in word.lower():
            if "\u0430" <= ch <= "\u044f":
                cyrillic += 1
                frequent += ch in _FREQUENT_RUSSIAN
    odd = sum(1 for ch in text if ord(ch) > 127 and not ch.isalpha() and ch not in "«»—–№©®°…’‘“”•€ ")
    total += odd
    if total == 0:
        return 0.0
    score = good / total
    if cyrillic >= 4:
        # In Russian text about half the letters are the frequent ones; a wrong code page permutes them.
        score *= min(1.0, (frequent / cyrillic) / 0.45)
    return score


def _best_scored(data: bytes) -> tuple[str | None, float]:
    best: tuple[str | None, float] = (None, 0.0)
    for charset in _SCORED_CANDIDATES:
        text = _try_decode(data, charset)
        if text is None:
            continue
        score = _plausibility(text, charset)
        if score > best[1]:
            best = (charset, score)
    return best


def detect_charset(data: bytes) -> str | None:
    """Guess the charset of undeclared 8-bit bytes; None when nothing explains them."""
    if _try_decode(data, "utf-8") is not None:
        return "utf-8"
    charset, score = _best_scored(data)
    if charset is not None and score >= _CONFIDENT:
        return charset
    guess = charset_normalizer.from_bytes(data[:20_000], cp_isolation=_CJK_AND_OTHERS).best()
    if guess is not None and guess.encoding:
        return normalize_charset(guess.encoding)
    return charset


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode bytes by their declared charset, falling back to detection and finally latin-1."""
    charset = normalize_charset(declared)
    if data.isascii() and not (charset and _is_seven_bit_stateful(charset)):
        return data.decode("ascii")
    if charset and _is_seven_bit_stateful(charset):
        text = _try_decode(data, charset)
        if text is not None:
            return text
    utf8 = _try_decode(data, "utf-8")
    if utf8 is not None:
        return utf8
    if charset and charset not in _OFTEN_WRONG and charset != "utf-8":
        text = _try_decode(data, charset)
        if text is not None:
            return text
    return _decode_undeclared(data, charset)


def _decode_undeclared(data: bytes, declared: str | None) -> str:
    guessed = detect_charset(data)
    if declared in _OFTEN_WRONG and guessed not in _SCORED_CANDIDATES[:2]:
        guessed = declared  # a Latin declaration stands unless Cyrillic explains the bytes better
    for charset in (guessed, declared):
        if charset:
            text = _try_decode(data, charset)
            if text is not None:
                return text
    if declared and declared != "utf-8":
        return data.decode(declared, errors="replace")
    return data.decode("latin-1")


def unfold(value: str) -> str:
    """Undo header folding (RFC 5322 section 2.2.3) and drop stray line breaks."""
    return _FOLD.sub("", value).replace("\r", "").replace("\n", "")


def _q_decode(text: str) -> bytes:
    # RFC 2047 section 4.2: "_" is a space, "=XX" a byte.
    raw = text.replace("_", " ").encode("ascii", "surrogateescape")
    return binascii.a2b_qp(raw)


def _b_decode(text: str) -> bytes:
    raw = text.encode("ascii", "surrogateescape")
    raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
    raw = raw[: len(raw) - len(raw) % 4] if len(raw) % 4 == 1 else raw + b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw)
    except (binascii.Error, ValueError):
        return b""


def _word_bytes(encoding: str, text: str) -> bytes:
    return _b_decode(text) if encoding in "bB" else _q_decode(text)


def decode_encoded_words(value: str) -> str:
    """Decode RFC 2047 encoded words in an already-unfolded header string.

    Adjacent words in the same charset are joined as bytes before decoding, so a UTF-8 character split
    across two words survives; whitespace between encoded words is dropped (RFC 2047 section 6.2).
    """
    pieces: list[tuple[str | None, bytes | str]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        literal = value[pos : match.start()]
        previous_encoded = bool(pieces) and pieces[-1][0] is not None
        if literal and not (previous_encoded and not literal.strip(" \t")):
            pieces.append((None, literal))
        charset = match.group(1).split("*", 1)[0].lower()
        data = _word_bytes(match.group(2), match.group(3))
        last = pieces[-1] if pieces else None
        if last is not None and last[0] == charset and isinstance(last[1], bytes):
            pieces[-1] = (charset, last[1] + data)
        else:
            pieces.append((charset, data))
        pos = match.end()
    if pos == 0:
        return value
    if value[pos:]:
        pieces.append((None, value[pos:]))
    return "".join(_render_piece(charset, data) for charset, data in pieces)


def _render_piece(charset: str | None, data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    return decode_bytes(data, charset)


def decode_header_bytes(raw: bytes) -> str:
    """A header value's bytes as text: raw 8-bit decoded by detection, encoded words decoded."""
    return decode_encoded_words(unfold(decode_bytes(raw)))


def as_raw_bytes(value: object) -> bytes:
    """The original bytes of a header value the stdlib parser kept as surrogate-escaped text."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "surrogateescape")


def raw_header_values(msg: Message, name: str) -> list[bytes]:
    """Every value of a header, as the bytes on the wire (compat32 keeps them surrogate-escaped)."""
    wanted = name.lower()
    return [as_raw_bytes(value) for key, value in _raw_items(msg) if key.lower() == wanted]


def _raw_items(msg: Message) -> Iterable[tuple[str, object]]:
    try:
        return list(msg.raw_items())
    except (AttributeError, TypeError):
        return list(msg.items())


def header_values(msg: Message, name: str) -> list[str]:
    """Every value of a header, decoded and unfolded."""
    return [decode_header_bytes(raw).strip() for raw in raw_header_values(msg, name)]


def header_text(msg: Message, name: str, max_chars: int = 16_384) -> str:
    """The first value of a header, decoded, or "" when absent; capped at ``max_chars``."""
    for raw in raw_header_values(msg, name):
        return decode_header_bytes(raw[: max_chars * 4]).strip()[:max_chars]
    return ""
