"""Tracker comment markup as plain text for the customer: Jira wiki markup and Kaiten's markdown. Pure.

Conversion follows the trackers' markup references:

- Jira wiki markup (https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa?section=all, the
  same rules :mod:`mappers.markup` escapes): ``*bold*``, ``_italic_``, ``-strike-``, ``+ins+``,
  ``^sup^``, ``~sub~``, ``??cite??`` lose their markers; ``{{mono}}`` keeps its text; ``[text|url]``
  becomes "text (url)"; ``[~user]`` mentions are removed; ``[^file]`` and ``!image.png|opts!`` become
  "[attachment: file]" / "[image: image.png]"; ``{code}`` and ``{noformat}`` bodies are kept verbatim;
  ``{color}``, ``{panel}`` and other macro tags are dropped (``{quote}`` bodies are quoted with "> ");
  ``h1.`` headings, ``bq.`` quotes, ``*``/``#``/``-`` lists and ``||table||`` rows are flattened;
  ``\\\\`` is a line break, ``\\X`` an escaped character and ``&#92;`` a backslash.
- Kaiten markdown (CommonMark, https://spec.commonmark.org/0.31.2/; Kaiten's default comment format
  per developers.kaiten.ru): emphasis, headings, links, images, code spans, fences, autolinks,
  backslash escapes, entities, inline HTML tags and hard line breaks.

The converters never raise on any input; whatever they cannot make sense of stays as text.
"""

from __future__ import annotations

import html
import re

from mappers.markup import clean_text

# ---------------------------------------------------------------------------------------------------
# Placeholders: text that later rules must not touch (code, escaped characters, finished links) is
# parked in a list and referenced by a private-use sentinel, then put back at the end.

_SENTINELS = "\ue000\ue001\ue002\ue003"


class _Slots:
    def __init__(self, opening: str = "\ue000", closing: str = "\ue001") -> None:
        self.parked: list[str] = []
        self.opening, self.closing = opening, closing
        self.pattern = re.compile(f"{opening}(\\d+){closing}")

    def park(self, text: str) -> str:
        self.parked.append(text)
        return f"{self.opening}{len(self.parked) - 1}{self.closing}"

    def restore(self, text: str) -> str:
        for _ in range(8):  # slots nest (a link around an escaped character): a few passes suffice
            text, count = self.pattern.subn(self._lookup, text)
            if not count:
                break
        return text.replace(self.opening, "").replace(self.closing, "")

    def _lookup(self, match: re.Match[str]) -> str:
        index = int(match.group(1))
        return self.parked[index] if index < len(self.parked) else ""


# Inline constructs longer than this are left as written: it keeps every rule linear in the text.
_SPAN = 300
_URL = 2000


def _inline(marker: str) -> re.Pattern[str]:
    """Jira/markdown inline emphasis: ``m`` + text not starting/ending with space or ``m`` + ``m``."""
    m = re.escape(marker)
    c = re.escape(marker[0])
    return re.compile(rf"(?<![\w{c}\\]){m}(?=[^\s{c}])([^\n]{{0,{_SPAN}}}?[^\s{c}]){m}(?![\w{c}])")


def _clean(body: str) -> str:
    """Control characters and the placeholder sentinels out of the input."""
    return clean_text(body).translate({ord(c): None for c in _SENTINELS})


def _finish(text: str) -> str:
    """Tidy the converted text: no trailing spaces, at most one blank line in a row."""
    text = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


_ENTITY = re.compile(r"&(#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _entity(match: re.Match[str]) -> str:
    return html.unescape(match.group(0))


# ---------------------------------------------------------------------------------------------------
# Jira wiki markup

_J_BLOCK = re.compile(r"\{(code|noformat)(?::[^}\n]*)?\}\n?(.*?)\n?\{\1\}", re.DOTALL)
_J_BLOCK_OPEN = re.compile(r"\{(code|noformat)(?::[^}\n]*)?\}\n?(.*)\Z", re.DOTALL)  # unclosed: to the end
_J_QUOTE = re.compile(r"\{quote\}\n?(.*?)\n?\{quote\}", re.DOTALL)
_J_ESCAPE = re.compile(r"\\([^\w\s\\]|_)")
_J_MONO = re.compile(rf"\{{\{{(.{{1,{_SPAN}}}?)\}}\}}")
_J_MENTION_LINE_START = re.compile(r"^[ \t]*\[~[^\]\n]*\][ \t]*", re.MULTILINE)
_J_MENTION = re.compile(r"[ \t]?\[~[^\]\n]*\]")
_J_ATTACHMENT = re.compile(r"\[\^([^\]\n]+)\]")
_J_LINK = re.compile(r"\[([^\[\]\n]*)\]")
_J_IMAGE = re.compile(r"!([^!\s|][^!\n|]*?\.[A-Za-z0-9]{1,8})(?:\|[^!\n]*)?!")
_J_URL = re.compile(r"\b(?:https?|ftp|mailto|file)://[^\s\[\]|{}<>]+|\bmailto:[^\s\[\]|{}<>]+")
_J_MACRO = re.compile(r"\{[A-Za-z][\w-]*(?::[^{}\n]*)?\}")
_J_COLOR = re.compile(r"\{colou?r(?::[^{}\n]*)?\}", re.IGNORECASE)
_J_RULE = re.compile(r"^[ \t]*-{4,}[ \t]*$", re.MULTILINE)
_J_HEADING = re.compile(r"^[ \t]*h[1-6]\.[ \t]*", re.MULTILINE)
_J_BQ = re.compile(r"^[ \t]*bq\.[ \t]*", re.MULTILINE)
_J_LIST = re.compile(r"^[ \t]*([*#-]+)[ \t]+(?=\S)", re.MULTILINE)
_J_TABLE = re.compile(r"^[ \t]*\|\|?.*$", re.MULTILINE)
_J_INLINE = [_inline(m) for m in ("??", "*", "_", "+", "^", "~", "-")]


def wiki_to_text(body: str) -> str:
    """Jira wiki markup as readable plain text for a customer."""
    slots, verbatim = _Slots(), _Slots("\ue002", "\ue003")
    text = _clean(body)
    text = _J_BLOCK.sub(lambda m: "\n" + verbatim.park(m.group(2)) + "\n", text)
    text = _J_BLOCK_OPEN.sub(lambda m: "\n" + verbatim.park(m.group(2)), text)
    text = text.replace("\\\\", "\n")  # a forced line break
    text = _J_ESCAPE.sub(lambda m: slots.park(m.group(1)), text)
    text = _ENTITY.sub(lambda m: slots.park(_entity(m)), text)
    text = _J_QUOTE.sub(lambda m: "\n".join("> " + line for line in m.group(1).split("\n")), text)
    text = _strip_colour(text)  # before monospace: "{{{color:red}}" must not park half a tag
    text = _J_MONO.sub(lambda m: slots.park(m.group(1)), text)
    text = _J_MENTION_LINE_START.sub("", text)
    text = _J_MENTION.sub("", text)
    text = _J_ATTACHMENT.sub(lambda m: slots.park(f"[attachment: {m.group(1).strip()}]"), text)
    text = _J_LINK.sub(lambda m: _jira_link(m, slots), text)
    text = _J_IMAGE.sub(lambda m: slots.park(f"[image: {m.group(1).strip()}]"), text)
    text = _J_URL.sub(lambda m: slots.park(m.group(0)), text)
    text = _J_RULE.sub(lambda m: slots.park("----"), text)
    text = _J_MACRO.sub("", text)
    text = _J_HEADING.sub("", text)
    text = _J_BQ.sub("> ", text)
    text = _lists(text)
    text = _J_TABLE.sub(_jira_row, text)
    for pattern in _J_INLINE:
        text = _repeat(pattern, text)
    # Escaped or entity-written "{color}" is still no text for a customer; code bodies stay verbatim.
    text = _strip_colour(slots.restore(_strip_colour(text)))
    return _finish(verbatim.restore(text))


def _jira_link(match: re.Match[str], slots: _Slots) -> str:
    inner = match.group(1)
    if not inner.strip():
        return match.group(0)
    if inner.startswith("#"):  # an anchor
        return ""
    if "|" in inner:
        label, _, target = inner.partition("|")
        target = target.split("|", 1)[0].strip()
    else:
        label, target = "", inner.strip()
    label = label.strip()
    if target.lower().startswith("mailto:"):
        target = target[len("mailto:") :]
    if not _looks_like_target(target):
        return match.group(0)  # "[sic]", "[1]": ordinary brackets, not a link
    if not label or label == target:
        return slots.park(target)
    return label + " (" + slots.park(target) + ")"


def _looks_like_target(target: str) -> bool:
    return bool(re.match(r"(?:[a-z][a-z0-9+.-]*:|www\.|/)", target, re.IGNORECASE)) or (
        "@" in target and " " not in target
    )


def _jira_row(match: re.Match[str]) -> str:
    row = match.group(0).strip()
    cells = [cell.strip() for cell in re.split(r"\|\|?", row)]
    if cells and not cells[0]:
        cells = cells[1:]
    if cells and not cells[-1]:
        cells = cells[:-1]
    return " | ".join(cells)


def _lists(text: str) -> str:
    """``*``/``-`` bullets as "- ", ``#`` items numbered, nesting as two-space indents."""
    out: list[str] = []
    counters: dict[int, int] = {}
    for line in text.split("\n"):
        match = _J_LIST.match(line)
        if match is None or (match.group(1)[0] == "-" and len(match.group(1)) > 1):
            counters.clear()
            out.append(line)
            continue
        marks = match.group(1)
        depth = len(marks)
        for deeper in [d for d in counters if d > depth]:
            del counters[deeper]
        if marks[-1] == "#":
            counters[depth] = counters.get(depth, 0) + 1
            bullet = f"{counters[depth]}."
        else:
            counters.pop(depth, None)
            bullet = "-"
        out.append("  " * (depth - 1) + bullet + " " + line[match.end() :])
    return "\n".join(out)


def _repeat(pattern: re.Pattern[str], text: str) -> str:
    """Apply an emphasis rule until nothing changes (nested ``*_x_*``), with a bound."""
    for _ in range(4):
        text, count = pattern.subn(r"\1", text)
        if not count:
            break
    return text


def _strip_colour(text: str) -> str:
    """Remove every ``{color}`` tag, including those that appear once others are gone."""
    for _ in range(len(text)):
        text, count = _J_COLOR.subn("", text)
        if not count:
            break
    return text


# ---------------------------------------------------------------------------------------------------
# Kaiten markdown

_M_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}+|~{3,}+)[^\n]*\n(.*?)(?:^[ \t]{0,3}\1[`~]*[ \t]*$|\Z)", re.M | re.S)
_M_ESCAPE = re.compile(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
_M_HARD_BREAK = re.compile(r"(?:\\| {2,})\n")
_M_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^\s<>]*|[^\s<>@]+@[^\s<>@]+)>", re.IGNORECASE)
_M_TARGET = rf"\(\s*<?([^\s()<>]{{0,{_URL}}})>?(?:\s+[\"'(][^\n\"')]{{0,{_SPAN}}}[\"')])?\s*\)"
_M_IMAGE = re.compile(rf"!\[([^\[\]\n]{{0,{_SPAN}}})\]{_M_TARGET}")
_M_LINK = re.compile(rf"\[([^\[\]\n]{{0,{_SPAN}}})\]{_M_TARGET}")
_M_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]]+")
_M_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_M_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_M_RULE = re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_M_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+|$)(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_M_SETEXT = re.compile(r"^[ \t]{0,3}(?:=+|-+)[ \t]*$", re.MULTILINE)
_M_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+(?=\S)", re.MULTILINE)
_M_INLINE = [_inline(m) for m in ("**", "__", "~~", "*", "_")]


def markdown_to_text(body: str) -> str:
    """Kaiten markdown as readable plain text for a customer."""
    slots = _Slots()
    text = _clean(body)
    text = _M_FENCE.sub(lambda m: slots.park(m.group(2).rstrip("\n")) + "\n", text)
    text = _code_spans(text, slots)
    text = _M_HARD_BREAK.sub("\n", text)
    text = _M_ESCAPE.sub(lambda m: slots.park(m.group(1)), text)
    text = _ENTITY.sub(lambda m: slots.park(_entity(m)), text)
    text = _M_BR.sub("\n", text)
    text = _M_AUTOLINK.sub(lambda m: slots.park(_no_mailto(m.group(1))), text)
    text = _M_IMAGE.sub(
        lambda m: slots.park(f"[image: {m.group(1).strip() or _file_name(m.group(2))}]"), text
    )
    text = _M_LINK.sub(lambda m: _markdown_link(m, slots), text)
    text = _M_URL.sub(lambda m: slots.park(m.group(0)), text)
    text = _M_TAG.sub("", text)
    text = _M_RULE.sub(lambda m: slots.park("----"), text)
    text = _M_HEADING.sub(r"\1", text)
    text = _M_SETEXT.sub("", text)
    text = _M_BULLET.sub(r"\1- ", text)
    for pattern in _M_INLINE:
        text = _repeat(pattern, text)
    return _finish(slots.restore(text))


def _code_spans(text: str, slots: _Slots) -> str:
    """CommonMark code spans: a backtick run up to the next run of the same length, in linear time."""
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", text)]
    following: list[int | None] = [None] * len(runs)
    last_of_length: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        length = runs[index][1] - runs[index][0]
        following[index] = last_of_length.get(length)
        last_of_length[length] = index
    out, position, index = [], 0, 0
    while index < len(runs):
        closing = following[index]
        if closing is None:
            index += 1
            continue
        start, end = runs[index]
        inner = text[end : runs[closing][0]]
        out += [text[position:start], slots.park(inner.strip(" ") or inner)]
        position = runs[closing][1]
        index = closing + 1
    out.append(text[position:])
    return "".join(out)


def _markdown_link(match: re.Match[str], slots: _Slots) -> str:
    label, target = match.group(1).strip(), _no_mailto(match.group(2).strip())
    if not target:
        return label
    if not label or label == target:
        return slots.park(target)
    return label + " (" + slots.park(target) + ")"


def _no_mailto(target: str) -> str:
    return target[len("mailto:") :] if target.lower().startswith("mailto:") else target


def _file_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or url
