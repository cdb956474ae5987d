"""Issue titles that say what the problem is, not how the customer said hello (pure).

Most customers open with a greeting and many close with a sign-off, so the first sentence of a message
is often "Здравствуйте!" or "Hi team,". The title here is the first meaningful sentence, with a
second one when the first is short, cut at a word near ``TITLE_LIMIT`` characters. Skipped:

- greetings in Russian and English with their addressee and punctuation, before or after:
  "Здравствуйте!", "Добрый день, Иван!", "Коллеги, доброго времени суток.", "Уважаемая служба
  поддержки!", "Hi team,", "Dear Sir or Madam," and what follows a greeting in the same sentence is
  kept ("Здравствуйте, у меня не работает вход" → "У меня не работает вход");
- pleasantries that carry no problem: "Надеюсь, у вас всё хорошо", "Hope you are well", "Меня зовут
  Иван", "Извините за беспокойство", "Помогите!", "Urgent";
- sign-offs ("Спасибо!", "С уважением, Иван", "Best regards"): everything after one is a signature,
  so the search stops there.

A subject line is the customer's own title and is kept unless it says nothing ("Вопрос", "Help",
"Re:" alone, a greeting): see ``meaningful_subject``.
"""

from __future__ import annotations

import re
import unicodedata

from mappers.markup import clean_text, one_line
from mappers.subjects import clean_subject

TITLE_LIMIT = 100  # a title a tracker's list shows whole; Jira takes 255, Kaiten 1,024
SHORT_SENTENCE = 40  # a first sentence this short gets the next one too ("Проблема с экзаменом. …")
READ_AHEAD = 10_000  # characters of a message looked at: a title is found at its start or not at all
MAX_OPENINGS = 4  # greetings stripped from one sentence ("Коллеги, добрый день! Hi," is three)

# A name or addressee beside a greeting: a capitalised word or initial ("Иван", "И.", "O'Neil"), a
# @handle, or a word people address a team with.
_ADDRESSEE = (
    r"team|all|everyone|everybody|there|folks|guys|support|colleagues|friends|sir|madam|or|and"
    r"|коллеги|друзья|все|всем|команда|поддержка|поддержки|техподдержка|техподдержки|служба"
    r"|специалисты|господа|ребята|товарищи"
)
_NAME = rf"(?:(?-i:[A-ZА-ЯЁ])[\w'’.\-]*|@\w+|(?:{_ADDRESSEE})(?![\w\-]))"
_NAMES = rf"{_NAME}(?:\s+{_NAME}){{0,3}}"
# Greetings that may run straight into the message ("Привет не могу войти") ...
_GREETING = (
    r"здравствуйте|здравствуй|здрасьте|здрасте|здравия\s+желаю|приветствую|привет"
    r"|добр(?:ый|ое|ого|ой)\s+(?:день|дня|утро|утра|вечер|вечера|ночи|времени\s+суток|время\s+суток)"
    r"|hello|hi|hey|good\s+(?:morning|afternoon|evening|day)"
)
# ... and words that are greetings only when punctuation follows ("Morning!", not "Morning sync fails").
_WEAK_GREETING = r"доброго|доброе|салют|хай|алло|morning|greetings|howdy|hiya|hallo|hola|yo"
_END = r"(?=$|[\s,!.:;…?)]|[—–-]\s)"
_TRAIL = r"[\s,!.:;…?)—–\-]*"
_BEFORE = rf"(?:{_NAMES}\s*,\s*|(?:всем|всех)\s+)?"  # "Коллеги, добрый день", "Всем привет"
_AFTER = rf"(?:[\s,]+{_NAMES}(?=\s*(?:[,!.:;…)]|$)))?"  # "Добрый день, Иван Петрович!", "Hi team,"
_OPENINGS = [
    # "Коллеги, добрый день!", "Hi team,", "Здравствуйте, Иван Петрович!", "Привет не могу войти"
    re.compile(rf"^{_BEFORE}(?:{_GREETING}){_END}{_AFTER}{_TRAIL}", re.I),
    re.compile(rf"^{_BEFORE}(?:{_WEAK_GREETING})(?:[\s,]+{_NAMES})?\s*[,!.:;…]{_TRAIL}", re.I),
    # "Уважаемая служба поддержки!", "Dear Sir or Madam,", "To whom it may concern:"
    re.compile(rf"^(?:dear|уважаем(?:ый|ая|ое|ые|ого))\s+[^,!.:;?\n]{{1,60}}?[,!.:;]{_TRAIL}", re.I),
    re.compile(rf"^to\s+whom\s+it\s+may\s+concern{_TRAIL}", re.I),
]
_PLEASANTRY = re.compile(
    r"^(?:"
    r"(?:i\s+)?hope\s+(?:you\s+are|you're|all\s+is|this\s+(?:e-?mail|message)\s+finds\s+you)"
    r"(?:\s+doing)?\s+(?:well|good|fine)"
    r"|надеюсь,?\s+у\s+вас\s+вс[её]\s+(?:хорошо|в\s+порядке)"
    r"|(?:извините|простите|прошу\s+прощения)\s+за\s+беспокойство"
    r"|sorry\s+(?:to\s+bother\s+you|for\s+the\s+(?:trouble|inconvenience))"
    r"|(?:меня\s+зовут|my\s+name\s+is|this\s+is)(?:\s+" + _NAMES + r")?"
    r"|(?:пожалуйста,?\s+)?помогите(?:,?\s+пожалуйста)?|нужна\s+помощь|(?:очень\s+)?срочно"
    r"|(?:please\s+)?help(?:\s+(?:me|us))?(?:,?\s+please)?|urgent|asap"
    r")$",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^(?:"
    r"(?:заранее\s+)?(?:спасибо|благодарю)(?:\s+(?:заранее|большое|огромное|вам|вас))*"
    r"(?:\s+за\s+(?:помощь|ответ|внимание|понимание))?"
    r"|с\s+уважением|всего\s+(?:доброго|хорошего)|хорошего\s+(?:дня|вечера)|удачи|до\s+свидания"
    r"|(?:жду|ждём|ждем)\s+(?:вашего\s+)?ответа|надеюсь\s+на\s+(?:вашу\s+)?(?:быструю\s+)?помощь"
    r"|(?:many\s+)?thanks(?:\s+(?:a\s+lot|so\s+much|in\s+advance|again))*(?:\s+for\s+(?:your|the)\s+help)?"
    r"|thank\s+you(?:\s+(?:very\s+much|so\s+much|in\s+advance))*(?:\s+for\s+your\s+(?:help|time))?"
    r"|thx|cheers|regards|best(?:\s+(?:regards|wishes))?|(?:kind|warm)\s+regards|br|bye"
    r"|sincerely(?:\s+yours)?|yours\s+(?:sincerely|truly|faithfully)"
    r"|have\s+a\s+(?:nice|good|great)\s+(?:day|weekend|one)"
    r"|looking\s+forward\s+to\s+(?:hearing\s+from\s+you|your\s+(?:reply|response|answer))"
    rf")(?:[\s,]+{_NAMES})?$",
    re.I,
)
_GENERIC_SUBJECTS = frozenset(
    {
        "вопрос", "вопросы", "проблема", "помощь", "помогите", "срочно", "запрос", "обращение", "заявка",
        "поддержка", "техподдержка", "ошибка", "важно", "без темы", "тест", "question", "questions",
        "problem", "issue", "help", "help me", "please help", "urgent", "request", "support", "error",
        "important", "no subject", "test",
    }
)  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_SOFT_WRAP = re.compile(r"(?<![.!?…:;])\n(?=[ \t]*[a-zа-яё])")
_EDGE = " \t,!.:;…—–-)"


def meaningful_subject(subject: str) -> str | None:
    """The subject without reply prefixes, tags and a greeting it opens with, or None when it says
    nothing about the problem ("Re:", "Вопрос", "Help!", "Здравствуйте!")."""
    cleaned = clean_subject(subject)
    rest = _strip_openings(cleaned)
    bare = _strip_edges(rest)
    if bare.casefold() in _GENERIC_SUBJECTS or not _is_meaningful(rest):
        return None
    if _PLEASANTRY.match(bare) or _SIGN_OFF.match(bare):
        return None
    return cleaned if rest == cleaned else _capitalised(rest)


def title_from_text(text: str, limit: int = TITLE_LIMIT) -> str | None:
    """The first meaningful sentence of ``text`` (two when the first is short), at most ``limit``
    characters cut at a word; None when the text is only greetings, pleasantries and sign-offs."""
    picked: list[str] = []
    for sentence in _sentences(text):
        rest = _strip_openings(sentence) if not picked else _strip_edges(sentence, trailing=False)
        bare = _strip_edges(rest)
        if _SIGN_OFF.match(bare):
            break
        if not _is_meaningful(rest) or _PLEASANTRY.match(bare):
            continue
        picked.append(rest)
        if len(picked) == 2 or len(picked[0]) >= SHORT_SENTENCE:
            break
    if not picked:
        return None
    return one_line(_capitalised(_joined(picked)), limit)


def _sentences(text: str) -> list[str]:
    """Sentences, a line break ending one unless the next line goes on in lower case (a soft wrap)."""
    if len(text) > READ_AHEAD:  # cut at a space or line break unless the last word alone is huge
        head = text[: READ_AHEAD + 1]
        cut = max(head.rfind(" "), head.rfind("\n"))
        text = head[:cut] if cut > READ_AHEAD // 2 else head[:READ_AHEAD]
    text = _SOFT_WRAP.sub(" ", clean_text(text))
    return [s for line in text.split("\n") for s in _SENTENCE_END.split(line.strip()) if s.strip()]


def _strip_openings(sentence: str) -> str:
    """The sentence without the greetings it opens with ("Коллеги, добрый день! Hi," …)."""
    rest = _strip_edges(sentence, trailing=False)
    for _ in range(MAX_OPENINGS):
        for opening in _OPENINGS:
            stripped = opening.sub("", rest, count=1)
            if stripped != rest:
                rest = _strip_edges(stripped, trailing=False)
                break
        else:
            break
    return rest


def _strip_edges(text: str, *, trailing: bool = True) -> str:
    """Without leading (and trailing) punctuation, spaces and emoji."""
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while trailing and end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_edge(char: str) -> bool:
    return char in _EDGE or char in "?\u200d\ufe0f" or unicodedata.category(char) in ("So", "Sk", "Zs")


def _is_meaningful(text: str) -> bool:
    return sum(ch.isalnum() for ch in text) >= 2 and any(ch.isalpha() for ch in text)


def _capitalised(text: str) -> str:
    """``text`` with a capital first letter when its first word is all lower case ("у меня" → "У меня",
    as after "Здравствуйте, "), left alone otherwise ("iPhone"). A letter whose capital is not one letter
    that lowers back to it ("ß" → "SS", dotless "ı" → "I") is left alone too: the title keeps the
    customer's own word."""
    first, head = text.split(" ", 1)[0], text[:1]
    capital = head.upper()
    if not first.islower() or len(capital) != 1 or capital.lower() != head:
        return text
    return capital + text[1:]


def _joined(sentences: list[str]) -> str:
    """Sentences as one line; one that ended at a line break gets a full stop before the next."""
    parts = [s if i == len(sentences) - 1 or s[-1] in ".!?…:;" else s + "." for i, s in enumerate(sentences)]
    return " ".join(parts)
