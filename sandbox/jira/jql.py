"""JQL: a tokenizer and a recursive-descent parser for the subset the sandbox answers (``AND``, ``OR``,
``NOT``, parentheses, ``= != < <= > >= ~ !~ IN, NOT IN, IS [NOT] EMPTY``, ``CHANGED`` with the
``AFTER``, ``BEFORE``, ``FROM`` and ``TO`` predicates, functions without arguments, ``ORDER BY``);
anything else is a ``JqlError`` (a 400), never a guess."""

from __future__ import annotations

import re
from dataclasses import dataclass


class JqlError(Exception):
    """A JQL query Jira would reject, or one the sandbox does not implement; answered as a 400."""


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | lparen | rparen | comma | end
    text: str
    pos: int


@dataclass(frozen=True)
class JqlValue:
    text: str
    kind: str = "text"  # text | func | empty


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != < <= > >= ~ !~ in, not in, is, is not, changed
    values: tuple[JqlValue, ...]
    predicates: tuple[tuple[str, JqlValue], ...] = ()  # CHANGED's: ("after", value), ...


@dataclass(frozen=True)
class BoolNode:
    op: str  # and | or | not
    children: tuple[Clause | BoolNode, ...]


@dataclass(frozen=True)
class JqlQuery:
    where: Clause | BoolNode | None
    order: tuple[tuple[str, bool], ...]  # (field, descending)


_PUNCT = {"(": "lparen", ")": "rparen", ",": "comma"}
CHANGED_PREDICATES = ("after", "before", "from", "to")
_OTHER_PREDICATES = ("on", "by", "during")
_OPS = ("!=", "<=", ">=", "!~", "=", "<", ">", "~")
_WORD_STOP = frozenset(" \t\r\n()\",'=!<>~")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(jql):
        ch = jql[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i))
            i += 1
        elif op := next((o for o in _OPS if jql.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif ch in "\"'":
            text, end = _read_string(jql, i)
            tokens.append(Token("string", text, i))
            i = end
        else:
            end = i
            while end < len(jql) and jql[end] not in _WORD_STOP:
                end += 1
            if end == i:
                raise JqlError(
                    f"Error in the JQL Query: The character '{ch}' is a reserved JQL character.{_at(i)}"
                )
            tokens.append(Token("word", jql[i:end], i))
            i = end
    tokens.append(Token("end", "", len(jql)))
    return tokens


def _at(pos: int) -> str:
    return f" (line 1, character {pos + 1})"


def _read_string(jql: str, start: int) -> tuple[str, int]:
    quote_char, i = jql[start], start + 1
    out: list[str] = []
    while i < len(jql):
        ch = jql[i]
        if ch == quote_char:
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(jql):
            nxt = jql[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", jql[i + 2 : i + 6]):
                out.append(chr(int(jql[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise JqlError(f"Error in the JQL Query: Illegal escape sequence '\\{nxt}'.{_at(i)}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise JqlError(f"Error in the JQL Query: Missing closing quote for the string starting{_at(start)}.")


class _Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = tokenize(jql)
        self.i = 0

    def parse(self) -> JqlQuery:
        where = None
        if self._peek().kind != "end" and not self._is_keyword("order"):
            where = self._or()
        order: tuple[tuple[str, bool], ...] = ()
        if self._accept_keyword("order"):
            self._expect_keyword("by")
            order = self._order_list()
        tok = self._peek()
        if tok.kind != "end":
            raise JqlError(
                f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{tok.text}'.{_at(tok.pos)}"
            )
        return JqlQuery(where, order)

    # token helpers
    def _peek(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def _is_keyword(self, word: str) -> bool:
        tok = self._peek()
        return tok.kind == "word" and tok.text.lower() == word

    def _accept_keyword(self, word: str) -> bool:
        if self._is_keyword(word):
            self._next()
            return True
        return False

    def _expect_keyword(self, word: str) -> None:
        tok = self._next()
        if not (tok.kind == "word" and tok.text.lower() == word):
            raise JqlError(
                f"Error in the JQL Query: Expecting '{word.upper()}' but got '{tok.text}'.{_at(tok.pos)}"
            )

    def _expect(self, kind: str, what: str) -> Token:
        tok = self._next()
        if tok.kind != kind:
            raise JqlError(f"Error in the JQL Query: Expecting {what} but got '{tok.text}'.{_at(tok.pos)}")
        return tok

    # grammar
    def _or(self) -> Clause | BoolNode:
        parts = [self._and()]
        while self._accept_keyword("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else BoolNode("or", tuple(parts))

    def _and(self) -> Clause | BoolNode:
        parts = [self._not()]
        while self._accept_keyword("and"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else BoolNode("and", tuple(parts))

    def _not(self) -> Clause | BoolNode:
        if self._accept_keyword("not"):
            return BoolNode("not", (self._not(),))
        if self._peek().kind == "lparen":
            self._next()
            node = self._or()
            self._expect("rparen", "')'")
            return node
        return self._clause()

    def _clause(self) -> Clause:
        tok = self._next()
        if tok.kind not in ("word", "string"):
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got '{tok.text}'.{_at(tok.pos)}"
            )
        if self._accept_keyword("changed"):
            return Clause(tok.text, "changed", (), self._predicates())
        op, values = self._operator_and_values()
        if op in ("=", "!=") and values[0].kind == "empty":
            op, values = ("is" if op == "=" else "is not"), ()
        return Clause(tok.text, op, values)

    def _operator_and_values(self) -> tuple[str, tuple[JqlValue, ...]]:
        tok = self._next()
        if tok.kind == "op":
            return tok.text, (self._value(),)
        word = tok.text.lower() if tok.kind == "word" else ""
        if word == "in":
            return "in", self._value_list()
        if word == "not":
            self._expect_keyword("in")
            return "not in", self._value_list()
        if word == "is":
            negate = self._accept_keyword("not")
            value = self._value()
            if value.kind != "empty":
                raise JqlError(f"Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after IS.{_at(tok.pos)}")
            return ("is not" if negate else "is"), ()
        raise JqlError(f"Error in the JQL Query: Expecting operator but got '{tok.text}'.{_at(tok.pos)}")

    def _predicates(self) -> tuple[tuple[str, JqlValue], ...]:
        found: list[tuple[str, JqlValue]] = []
        while True:
            tok = self._peek()
            word = tok.text.lower() if tok.kind == "word" else ""
            if word in _OTHER_PREDICATES:
                raise JqlError(
                    f"The sandbox does not support the CHANGED predicate '{word.upper()}'.{_at(tok.pos)}"
                )
            if word not in CHANGED_PREDICATES:
                return tuple(found)
            self._next()
            found.append((word, self._value()))

    def _value_list(self) -> tuple[JqlValue, ...]:
        self._expect("lparen", "'('")
        values = [self._value()]
        while self._peek().kind == "comma":
            self._next()
            values.append(self._value())
        self._expect("rparen", "')'")
        return tuple(values)

    def _value(self) -> JqlValue:
        tok = self._next()
        if tok.kind == "string":
            return JqlValue(tok.text)
        if tok.kind != "word":
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{tok.text}'.{_at(tok.pos)}")
        if tok.text.lower() in ("empty", "null"):
            return JqlValue(tok.text, "empty")
        if self._peek().kind == "lparen":
            self._next()
            self._expect("rparen", "')' (functions with arguments are not supported by the sandbox)")
            return JqlValue(tok.text.lower(), "func")
        return JqlValue(tok.text)

    def _order_list(self) -> tuple[tuple[str, bool], ...]:
        items = [self._order_item()]
        while self._peek().kind == "comma":
            self._next()
            items.append(self._order_item())
        return tuple(items)

    def _order_item(self) -> tuple[str, bool]:
        tok = self._next()
        if tok.kind not in ("word", "string"):
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got '{tok.text}'.{_at(tok.pos)}"
            )
        descending = False
        if self._accept_keyword("desc"):
            descending = True
        else:
            self._accept_keyword("asc")
        return tok.text.lower(), descending


def parse_jql(jql: str) -> JqlQuery:
    return _Parser(jql).parse()
