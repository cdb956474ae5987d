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
# Lenient: some mailers leave spaces inside the encoded text, which RFC 2047 forbids.
_ENCODED_WORD = re.compile(
    r"=\?([\x21-\x3e\x40-\x7e]+)\?([bBqQ])\?([\t\x20-\x3e\x40-\x7e]*?)\?="
)  # printable ASCII but "?"
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
        return non_ascii * 2 <= len(word) or len(word) <= 4
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
    if charset is not None and score >= 0.5 and sum(byte > 127 for byte in data) < 32:
        return charset  # too short for the generic detector, which then guesses a CJK code page
    import charset_normalizer  # lazy: 3 MiB of a web worker's RSS budget, and most mail never gets here

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
        if text is None and charset.startswith("iso2022_jp"):
            text = _iso2022jp_via_cp932(data)
        if text is not None:
            return text
    utf8 = _try_decode(data, "utf-8")
    if utf8 is not None:
        return utf8
    if charset and charset not in _OFTEN_WRONG and charset != "utf-8":
        text = _try_decode(data, charset)
        if text is not None:
            return text
    mixed = _decode_mostly_utf8(data)
    if mixed is not None:
        return mixed
    return _decode_undeclared(data, charset)


_ISO2022JP_ESCAPE = re.compile(rb"\x1b(\$[@B]|\([BJI])")


def _iso2022jp_via_cp932(data: bytes) -> str | None:
    """ISO-2022-JP (RFC 1468) with the vendor rows (NEC "①" etc.) that Python's codecs refuse.

    Japanese mailers encode cp932 characters into ISO-2022-JP; mapping each JIS X 0208 pair to its
    Shift_JIS bytes and decoding as cp932 recovers them.
    """
    out = bytearray()
    mode = b"(B"
    pos = 0
    for match in [*_ISO2022JP_ESCAPE.finditer(data), None]:
        end = match.start() if match else len(data)
        chunk = data[pos:end]
        if mode in (b"$@", b"$B"):
            if len(chunk) % 2:
                return None
            for index in range(0, len(chunk), 2):
                out += _jis_to_sjis(chunk[index], chunk[index + 1])
        elif mode == b"(I":
            out += bytes(byte | 0x80 for byte in chunk)  # JIS X 0201 katakana, in cp932 at 0xA1-0xDF
        else:
            out += chunk
        if match:
            mode, pos = match.group(1), match.end()
    return _try_decode(bytes(out), "cp932")


def _jis_to_sjis(first: int, second: int) -> bytes:
    lead = ((first + 1) >> 1) + (0x70 if first <= 0x5E else 0xB0)
    odd_row_trail = second + (0x1F if second <= 0x5F else 0x20)
    trail = odd_row_trail if first % 2 else second + 0x7E
    return bytes((lead & 0xFF, trail & 0xFF))


def _decode_mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few stray single-byte characters (text pasted from two sources), or None.

    Each invalid byte is read as windows-1252; this only applies when at most one in four non-ASCII
    bytes is invalid, which real single-byte Cyrillic or Latin text does not achieve.
    """
    high = sum(1 for byte in data if byte > 127)
    budget = max(1, high // 4)
    pieces: list[str] = []
    pos = 0
    while pos < len(data):
        try:
            pieces.append(data[pos:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            budget -= 1
            if budget < 0:
                return None
            bad = data[pos + exc.start : pos + exc.start + 1]
            pieces.append(data[pos : pos + exc.start].decode("utf-8"))
            pieces.append(bad.decode("cp1252", errors="replace").replace("\ufffd", bad.decode("latin-1")))
            pos += exc.start + 1
    return "".join(pieces)


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
    raw = text.replace("_", " ").encode("utf-8", "surrogateescape")
    return binascii.a2b_qp(raw)


def _b_decode(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
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


def decode_header_bytes(raw: bytes, hint: str | None = None) -> str:
    """A header value's bytes as text: raw 8-bit decoded (by ``hint``, else detection), words decoded."""
    return decode_encoded_words(unfold(decode_bytes(raw, hint)))


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
