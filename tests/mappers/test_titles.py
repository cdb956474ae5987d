"""Issue titles say what the problem is: greetings, pleasantries and sign-offs are skipped.

The openings below are written the way customers write to support over Telegram, e-mail and web forms
(Russian and English; the first one is the message issue 11 reports), each with the title a team
would want to see in its tracker.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.rules import HubConfig, Rule
from mappers.issue import SUMMARY_LIMIT as JIRA_SUMMARY_LIMIT
from mappers.issue import build_draft, summarize
from mappers.markup import clean_text, one_line
from mappers.models import Attachment, Channel, Sender
from mappers.titles import TITLE_LIMIT, meaningful_subject, title_from_text
from sandbox.kaiten.fields import TITLE_LIMIT as KAITEN_TITLE_LIMIT
from tests.mappers.factories import email_message, telegram_message

OPENINGS = [
    # Russian
    (
        "Здравствуйте! Не запускается прокторинг на экзамене у группы 301…",
        "Не запускается прокторинг на экзамене у группы 301…",
    ),
    ("Добрый день, Иван! Не запускается прокторинг", "Не запускается прокторинг"),
    ("Здравствуйте, у меня не работает вход в личный кабинет", "У меня не работает вход в личный кабинет"),
    ("Привет не могу войти", "Не могу войти"),
    (
        "Коллеги, добрый день!\nПроблема с экзаменом.\nНе запускается прокторинг у группы 301.",
        "Проблема с экзаменом. Не запускается прокторинг у группы 301.",
    ),
    (
        "Уважаемая служба поддержки!\n\nПрошу восстановить доступ к курсу.",
        "Прошу восстановить доступ к курсу.",
    ),
    (
        "Доброго времени суток! Надеюсь, у вас всё хорошо. Подскажите, как сменить тариф?",
        "Подскажите, как сменить тариф?",
    ),
    (
        "Здравствуйте. Меня зовут Анна Смирнова. Не приходят письма с кодом подтверждения.",
        "Не приходят письма с кодом подтверждения.",
    ),
    ("Здравствуйте, Сбербанк не принимает оплату", "Сбербанк не принимает оплату"),
    ("👋 Привет! 🙂 Бот не отвечает", "Бот не отвечает"),
    ("Добрый день!Не работает выгрузка", "Не работает выгрузка"),
    (
        "Здравствуйте\nне запускается прокторинг на экзамене у\nгруппы 301, ошибка камеры",
        "Не запускается прокторинг на экзамене у группы 301, ошибка камеры",
    ),
    (
        "Добрый вечер. Оплатил курс, но доступ так и не открылся. Номер заказа 48213.",
        "Оплатил курс, но доступ так и не открылся.",
    ),
    ("Доброе утро!\nНе приходит СМС с кодом для входа.", "Не приходит СМС с кодом для входа."),
    (
        "Добрый день, коллеги!\nПрошу помочь: при выгрузке отчёта в Excel пропадают данные за март.",
        "Прошу помочь: при выгрузке отчёта в Excel пропадают данные за март.",
    ),
    (
        "Здравствуйте, Анна Сергеевна! Студенты группы 301 не видят расписание на следующую неделю.",
        "Студенты группы 301 не видят расписание на следующую неделю.",
    ),
    ("Привет, ребята) У меня вопрос по тарифу", "У меня вопрос по тарифу"),
    ("Здрасьте. а как сменить пароль?", "А как сменить пароль?"),
    ("Уважаемые коллеги! Просим продлить лицензию до конца года.", "Просим продлить лицензию до конца года."),
    ("Всем привет! Не могу зайти в личный кабинет", "Не могу зайти в личный кабинет"),
    ("Всех приветствую. Вопрос: как выгрузить оценки?", "Вопрос: как выгрузить оценки?"),
    ("Здравствуйте! Помогите, пожалуйста! Не работает оплата картой Мир.", "Не работает оплата картой Мир."),
    (
        "Добрый день!\nИзвините за беспокойство. Подскажите, где скачать закрывающие документы за 3 квартал?",
        "Подскажите, где скачать закрывающие документы за 3 квартал?",
    ),
    ("доброго дня! не грузится видео в уроке 5", "Не грузится видео в уроке 5"),
    (
        "Приветствую! Подскажите по интеграции с 1С: не выгружаются заказы.",
        "Подскажите по интеграции с 1С: не выгружаются заказы.",
    ),
    ("Здравствуйте, меня зовут Олег. Не проходит оплата.", "Не проходит оплата."),
    (
        "Добрый день! Пишу по поводу заказа №12345 — до сих пор не доставлен, хотя срок вышел неделю назад, "
        "а трекинг не обновляется с 3 числа.",
        "Пишу по поводу заказа №12345 — до сих пор не доставлен, хотя срок вышел неделю назад, а трекинг не…",
    ),
    ("Принтер горит! Срочно", "Принтер горит!"),
    # English
    (
        "Hi team,\n\nthe export to CSV fails with error 500 since this morning.",
        "The export to CSV fails with error 500 since this morning.",
    ),
    (
        "Hello,\nI hope this email finds you well.\nWe cannot upload files larger than 10 MB to the portal.",
        "We cannot upload files larger than 10 MB to the portal.",
    ),
    (
        "Hi there! Quick question - can I change the billing e-mail?",
        "Quick question - can I change the billing e-mail?",
    ),
    (
        "Good morning,\n\nOur API key stopped working after the update.\n\nBest regards,\nJohn Smith\nACME Corp",
        "Our API key stopped working after the update.",
    ),
    (
        "Greetings! The mobile app crashes on start on Android 14.",
        "The mobile app crashes on start on Android 14.",
    ),
    ("Dear support team, please cancel my subscription.", "Please cancel my subscription."),
    ("Dear Sir or Madam,\nI was charged twice for order 1234.", "I was charged twice for order 1234."),
    ("To whom it may concern:\nI was billed twice in October.", "I was billed twice in October."),
    (
        "Hey guys, the dashboard is blank for me since yesterday",
        "The dashboard is blank for me since yesterday",
    ),
    ("Hi,\nURGENT\nProduction is down: 502 on every page.", "Production is down: 502 on every page."),
    (
        "Good afternoon! Hope you are doing well! Is there an on-premise version?",
        "Is there an on-premise version?",
    ),
    (
        "Hello support,\nMy name is Maria Lopez.\nI can't reset my password, the link has expired.",
        "I can't reset my password, the link has expired.",
    ),
    ("Morning all! Sync fails every night", "Sync fails every night"),
    ("Hey, where do I download the invoice?", "Where do I download the invoice?"),
    ("Hi Anna,\nthe webhook is not firing for new tickets.", "The webhook is not firing for new tickets."),
    # no greeting: the text stays as written, "Hi" or "Morning" inside a word or a phrase included
    ("Hi-res images fail to load", "Hi-res images fail to load"),
    ("Morning sync fails every day", "Morning sync fails every day"),
    ("iPhone app crashes on login", "iPhone app crashes on login"),
    ("Printer is on fire. Also the coffee machine.", "Printer is on fire. Also the coffee machine."),
]

NOTHING_SAID = [
    "Hello!\nThanks,\nJohn",
    "Здравствуйте!\n\nС уважением,\nИван Петров\nООО «Ромашка»",
    "Добрый день.\n\nСпасибо!\n\nИван",
    "Здравствуйте!\n\nЗаранее спасибо!",
    "Hi! 👋",
    "hello",
    "Привет!",
    "Добрый вечер!!! Помогите пожалуйста",
    "Good morning, hope you are well. Kind regards, Maria",
]


def test_the_table_covers_at_least_forty_openings() -> None:
    assert len(OPENINGS) + len(NOTHING_SAID) >= 40


@pytest.mark.parametrize(("text", "title"), OPENINGS)
def test_the_title_is_the_first_meaningful_sentence(text: str, title: str) -> None:
    assert title_from_text(text) == title


@pytest.mark.parametrize("text", NOTHING_SAID)
def test_greetings_and_sign_offs_alone_give_no_title(text: str) -> None:
    assert title_from_text(text) is None


def test_only_the_start_of_a_long_message_is_read() -> None:
    """A 25 MB mail is not split into sentences whole: the title is near its start or not there."""
    assert title_from_text("Hello!\n" * 200_000 + "The printer is on fire.") is None
    assert title_from_text("Hi! " + "x" * 200_000) == "X" + "x" * 98 + "…"  # one word over the limit


def test_the_reported_telegram_message_gets_a_title_on_both_trackers(hub_config: HubConfig) -> None:
    """Issue 11: this message became an issue and a card titled "Здравствуйте!"."""
    message = telegram_message("Здравствуйте! Не запускается прокторинг на экзамене у группы 301…")
    jira = build_draft(message, hub_config.rule_for(message), "m1")
    kaiten = build_draft(message, kaiten_rule(), "m1")
    assert jira.target.tracker == "jira" and kaiten.target.tracker == "kaiten"
    assert jira.title == kaiten.title == "Не запускается прокторинг на экзамене у группы 301…"


def kaiten_rule() -> Rule:
    return Rule.model_validate(
        {"name": "kaiten", "target": {"tracker": "kaiten", "board": 10, "column": 101}}
    )


def test_titles_are_plain_text_within_both_trackers_limits(hub_config: HubConfig) -> None:
    """Jira's summary and Kaiten's card title are not rendered as markup, so nothing is escaped (a
    backslash would show); line breaks and control characters are removed."""
    subject = "Re: [~admin] *bold* {html}x{html} @everyone\x00 " + "слово " * 80
    message = email_message(subject=subject)
    for rule in (hub_config.rule_for(message), kaiten_rule()):
        title = build_draft(message, rule, "m2").title
        assert title.startswith("[~admin] *bold* {html}x{html} @everyone слово") and "\\" not in title
        assert len(title) <= min(JIRA_SUMMARY_LIMIT, KAITEN_TITLE_LIMIT) and "\x00" not in title


@pytest.mark.parametrize(
    ("subject", "text", "title"),
    [
        # a subject that says something stays the title, whatever the body opens with
        ("Счёт не пришёл", "Добрый день, счёт не пришёл.", "Счёт не пришёл"),
        ("Re: Fwd: Invoice is wrong", "Hello, the invoice total is wrong.", "Invoice is wrong"),
        ("Добрый день! не работает печать", "Здравствуйте.", "Не работает печать"),
        # "Re:" alone, a generic word or a greeting: the body says more
        ("Re:", "Hi,\nthe invoice total is wrong.", "The invoice total is wrong."),
        ("Вопрос", "Здравствуйте! Как сменить e-mail в профиле?", "Как сменить e-mail в профиле?"),
        ("Help!", "Hello, our SSO login loops forever.", "Our SSO login loops forever."),
        ("Здравствуйте!", "Не приходит код подтверждения", "Не приходит код подтверждения"),
        ("", "Добрый день! Не работает печать", "Не работает печать"),
        # ... unless it does not: then the generic subject is better than nothing
        ("Вопрос", "Здравствуйте!\n\nС уважением, Иван", "Вопрос"),
    ],
)
def test_email_subjects_that_say_something_stay_the_title(subject: str, text: str, title: str) -> None:
    assert summarize(email_message(subject=subject, text=text)) == title


@pytest.mark.parametrize(
    "subject", ["", "Re:", "RE: FW:", "Вопрос", "вопрос?", "Help", "Hello team", "Привет!"]
)
def test_subjects_that_say_nothing(subject: str) -> None:
    assert meaningful_subject(subject) is None


def test_nothing_left_falls_back_to_the_channel_and_sender() -> None:
    assert summarize(telegram_message("Здравствуйте! 🙂")) == "Telegram message from Ann Lee"
    nameless = Sender(telegram_user_id=7)
    assert summarize(telegram_message("Hi!", sender=nameless)) == "Telegram message from tg:7"
    assert summarize(telegram_message("", sender=Sender())) == "Telegram message"
    photo = Attachment(filename="photo-1.jpg", content_type="image/jpeg", telegram_file_id="f")
    assert summarize(telegram_message("Привет!", attachments=[photo])) == "Telegram: photo-1.jpg"
    form = email_message(subject="", text="Hello!", channel=Channel.FORM, sender=Sender(name="Ann " * 40))
    assert summarize(form).startswith("Web form message from Ann Ann") and len(summarize(form)) <= TITLE_LIMIT


# -- properties -----------------------------------------------------------------------------------------

_GREETINGS = st.sampled_from(
    ["Здравствуйте! ", "Добрый день, Иван! ", "Hi team, ", "Hello!\n", "Dear Sir or Madam,\n", "", "Привет "]
)
_SIGN_OFFS = st.sampled_from(["", "\n\nСпасибо!", "\nBest regards,\nJohn", "\n\nС уважением, Иван"])
_SPACED = st.lists(st.text(alphabet="aбZ9,;-(\x00", min_size=1, max_size=30), max_size=12).map(" ".join)
_WORDS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "So")), min_size=0, max_size=40
)
_BODY = st.lists(
    st.one_of(_WORDS, st.sampled_from([".", "!", "\n", " ", "…", "-" * 120]), _SPACED), max_size=25
).map("".join)


def _words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"\w+", one_line(text, 10**6))}


@given(greeting=_GREETINGS, body=_BODY, sign_off=_SIGN_OFFS, limit=st.integers(min_value=10, max_value=150))
def test_a_title_is_never_empty_never_too_long_and_cut_only_between_words(
    greeting: str, body: str, sign_off: str, limit: int
) -> None:
    text = greeting + body + sign_off
    title = title_from_text(text, limit)
    if title is None:
        return
    assert title.strip() and "\n" not in title and len(title) <= limit
    if max((len(w) for w in text.split()), default=0) < limit - 1:  # no single word longer than the limit
        assert _words(title) <= _words(text)  # every word of the title is a whole word of the text


@given(text=_BODY, subject=st.one_of(st.just(""), _WORDS), name=_WORDS)
def test_a_summary_is_never_empty_and_fits_jira_and_kaiten(text: str, subject: str, name: str) -> None:
    for message in (
        telegram_message(text, sender=Sender(name=name, telegram_user_id=1)),
        email_message(subject=subject, text=text, sender=Sender(name=name)),
    ):
        summary = summarize(message)
        assert summary.strip() and "\n" not in summary
        assert len(summary) <= min(JIRA_SUMMARY_LIMIT, KAITEN_TITLE_LIMIT)


@given(text=st.one_of(_SPACED, st.text()), limit=st.integers(min_value=2, max_value=120))
def test_one_line_cuts_a_word_only_when_it_alone_is_longer_than_the_limit(text: str, limit: int) -> None:
    line = one_line(text, limit)
    words = clean_text(text).split()
    if len(line) == len(" ".join(words)) or len(words[0]) > limit:
        return  # it fitted, or a single word is longer than the limit
    kept = line.removesuffix("…").split(" ")
    assert kept[:-1] == words[: len(kept) - 1]
    last = words[len(kept) - 1]
    assert kept[-1] == last or (last.startswith(kept[-1]) and set(last[len(kept[-1]) :]) <= set(",;:-–—("))


@pytest.mark.parametrize("word", ["ıstanbul", "ßtraße"])
def test_a_first_letter_without_a_one_letter_capital_is_left_as_the_customer_wrote_it(word: str) -> None:
    title = title_from_text(f"Здравствуйте! {word} не работает", 60)
    assert title == f"{word} не работает"
