"""JQL compiled to SQL over the issue table (alias ``i``): a handler per searchable field, dates
absolute or relative (``-5d``, ``startOfDay()``), and ``ORDER BY`` columns. Date-only fields (``duedate``,
a date picker) compare calendar days, as Jira does. Custom fields are searched by ``cf[N]`` or by name:
dates, selects (by option value) and text (``=`` only). Users are user names on Data Center and account
ids on Cloud. Real Jira fields the sandbox does not search on are a clear 400, not a wrong answer."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.jira.catalogue import CATEGORIES, STATUSES, Catalogue
from sandbox.jira.jql import BoolNode, Clause, JqlError, JqlQuery, JqlValue
from sandbox.jira.store import find_issue, format_time


@dataclass
class JqlContext:
    cat: Catalogue
    conn: sqlite3.Connection
    user: str
    validate: bool
    cloud: bool = False
    warnings: list[str] = field(default_factory=list)


Sql = tuple[str, list[Any]]
EQUALITY_OPS = ("=", "!=", "in", "not in")
DATE_OPS = ("=", "!=", "<", "<=", ">", ">=")

# real Jira fields the sandbox does not search on: a clear 400 rather than a wrong answer
UNSUPPORTED_FIELDS = frozenset(
    {"summary", "description", "text", "comment", "component", "fixversion", "affectedversion", "sprint",
     "resolutiondate", "creator", "watcher", "parent", "environment", "attachments", "issuelink"}
)  # fmt: skip


def _unsupported_op(clause: Clause) -> JqlError:
    return JqlError(f"The operator '{clause.op.upper()}' is not supported by the '{clause.field}' field.")


def _no_value(clause: Clause, value: JqlValue) -> JqlError:
    return JqlError(f"The value '{value.text}' does not exist for the field '{clause.field}'.")


def _membership(column: str, op: str, ids: Sequence[Any]) -> Sql:
    if not ids:
        return ("0" if op in ("=", "in") else "1"), []
    marks = ", ".join("?" * len(ids))
    if op in ("=", "in"):
        return f"{column} IN ({marks})", list(ids)
    return f"({column} IS NOT NULL AND {column} NOT IN ({marks}))", list(ids)


def _equality_handler(
    column: str, resolve: Callable[[Clause, JqlValue, JqlContext], list[str]], *, nullable: bool = False
) -> Callable[[Clause, JqlContext], Sql]:
    def handler(clause: Clause, ctx: JqlContext) -> Sql:
        if clause.op in ("is", "is not") and nullable:
            return f"{column} {'IS NULL' if clause.op == 'is' else 'IS NOT NULL'}", []
        if clause.op not in EQUALITY_OPS:
            raise _unsupported_op(clause)
        ids = [found for value in clause.values for found in resolve(clause, value, ctx)]
        return _membership(column, clause.op, ids)

    return handler


def _lookup(find: Callable[[Catalogue, str], Any]) -> Callable[[Clause, JqlValue, JqlContext], list[str]]:
    def resolve(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
        found = find(ctx.cat, value.text) if value.kind == "text" else None
        if found is None:
            raise _no_value(clause, value)
        return [found.id]

    return resolve


def _resolve_status_category(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    text = value.text.lower()
    keys = [k for k, (cid, name, _) in CATEGORIES.items() if text in (k, name.lower(), str(cid))]
    if not keys or value.kind != "text":
        raise _no_value(clause, value)
    return [s.id for s in STATUSES if s.category == keys[0]]


def _resolve_user(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    if value.kind == "func" and value.text == "currentuser":
        return [ctx.user]
    user = None
    if value.kind == "text":
        user = ctx.cat.user_by_account_id(value.text) if ctx.cloud else ctx.cat.user(value.text)
    if user is None:
        raise _no_value(clause, value)
    return [user.name]


def _resolve_resolution(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    found = ctx.cat.resolution(value.text) if value.kind == "text" else None
    if found is None:
        raise _no_value(clause, value)
    return [found.id]


def _resolve_issue(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
    row = find_issue(ctx.conn, value.text) if value.kind == "text" else None
    if row is not None:
        return [row["id"]]
    message = f"An issue with key '{value.text}' does not exist for field '{clause.field}'."
    if ctx.validate:
        raise JqlError(message)
    ctx.warnings.append(message)
    return []


def _labels_handler(clause: Clause, ctx: JqlContext) -> Sql:
    has_any = "EXISTS (SELECT 1 FROM label l WHERE l.issue_id = i.id)"
    if clause.op in ("is", "is not"):
        return (f"NOT {has_any}" if clause.op == "is" else has_any), []
    if clause.op not in EQUALITY_OPS:
        raise _unsupported_op(clause)
    if any(v.kind != "text" for v in clause.values):
        raise JqlError(f"The sandbox does not support functions in the '{clause.field}' field.")
    values = [v.text for v in clause.values]
    marks = ", ".join("?" * len(values))
    matching = f"EXISTS (SELECT 1 FROM label l WHERE l.issue_id = i.id AND l.label IN ({marks}))"  # noqa: S608
    if clause.op in ("=", "in"):
        return matching, values
    return f"({has_any} AND NOT {matching})", values


_RELATIVE = re.compile(r"([+-]?)(\d+)([wdhm])")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def jql_moment(value: JqlValue, now: datetime) -> datetime:
    """A JQL date value: ``"2024-01-15[ 10:30]"``, ``-5d``/``-4h``/``-1w``, ``now()``, ``startOfDay()``."""
    if value.kind == "func":
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        funcs = {"now": now, "startofday": day, "endofday": day + timedelta(days=1, milliseconds=-1)}
        if value.text in funcs:
            return funcs[value.text]
        raise JqlError(f"The sandbox does not support the JQL function '{value.text}()'.")
    text = value.text.strip()
    if match := _RELATIVE.fullmatch(text.lower()):
        sign = -1 if match.group(1) == "-" else 1
        return now + sign * int(match.group(2)) * _UNITS[match.group(3)]
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise JqlError(
        f"Date value '{text}' for field 'created' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


def _date_handler(column: str, *, day_only: bool = False) -> Callable[[Clause, JqlContext], Sql]:
    """A timestamp column, or (``day_only``) a ``yyyy-MM-dd`` one compared by calendar day."""

    def handler(clause: Clause, ctx: JqlContext) -> Sql:
        if clause.op in ("is", "is not"):
            return f"{column} {'IS NULL' if clause.op == 'is' else 'IS NOT NULL'}", []
        if clause.op not in DATE_OPS:
            raise _unsupported_op(clause)
        moment = jql_moment(clause.values[0], datetime.now(UTC))
        bound = moment.date().isoformat() if day_only else format_time(moment)
        sql_op = "<>" if clause.op == "!=" else clause.op
        return f"{column} {sql_op} ?", [bound]

    return handler


def _custom_field_handler(clause: Clause, ctx: JqlContext) -> Sql:
    """A custom field by ``cf[N]``, id or name: a date picker by day, a select by option value, text by
    equality."""
    fdef = ctx.cat.custom_field(clause.field)
    if fdef is None:
        raise JqlError(f"Field '{clause.field}' does not exist or you do not have permission to view it.")
    column = f"json_extract(i.doc, '$.{fdef.id}')"
    kind = fdef.schema["type"]
    if kind == "date":
        return _date_handler(column, day_only=True)(clause, ctx)
    if kind == "option":
        options = {o.name.lower(): o.id for o in fdef.options}

        def option(clause: Clause, value: JqlValue, ctx: JqlContext) -> list[str]:
            found = options.get(value.text.lower()) if value.kind == "text" else None
            if found is None:
                raise _no_value(clause, value)
            return [found]

        return _equality_handler(column, option, nullable=True)(clause, ctx)
    if kind == "string" and clause.op in ("=", "!=", "is", "is not"):
        return _equality_handler(column, lambda c, v, x: [v.text], nullable=True)(clause, ctx)
    raise _unsupported_op(clause)


JQL_FIELDS: dict[str, Callable[[Clause, JqlContext], Sql]] = {
    "project": _equality_handler("i.project_id", _lookup(Catalogue.project)),
    "key": _equality_handler("i.id", _resolve_issue),
    "issuekey": _equality_handler("i.id", _resolve_issue),
    "id": _equality_handler("i.id", _resolve_issue),
    "labels": _labels_handler,
    "status": _equality_handler("i.status_id", _lookup(Catalogue.status)),
    "statuscategory": _equality_handler("i.status_id", _resolve_status_category),
    "issuetype": _equality_handler("i.issuetype_id", _lookup(Catalogue.issue_type)),
    "type": _equality_handler("i.issuetype_id", _lookup(Catalogue.issue_type)),
    "priority": _equality_handler("i.priority_id", _lookup(Catalogue.priority)),
    "assignee": _equality_handler("i.assignee", _resolve_user, nullable=True),
    "reporter": _equality_handler("i.reporter", _resolve_user, nullable=True),
    "resolution": _equality_handler("i.resolution_id", _resolve_resolution, nullable=True),
    "created": _date_handler("i.created"),
    "createddate": _date_handler("i.created"),
    "updated": _date_handler("i.updated"),
    "updateddate": _date_handler("i.updated"),
    "duedate": _date_handler("json_extract(i.doc, '$.duedate')", day_only=True),
    "due": _date_handler("json_extract(i.doc, '$.duedate')", day_only=True),
}
ORDER_COLUMNS = {
    "created": ("i.created",),
    "updated": ("i.updated",),
    "key": ("i.project_id", "i.num"),
    "issuekey": ("i.project_id", "i.num"),
    "id": ("i.id",),
    "priority": ("-CAST(i.priority_id AS INTEGER)",),
    "duedate": ("json_extract(i.doc, '$.duedate')",),
}


def _compile_node(node: Clause | BoolNode, ctx: JqlContext) -> Sql:
    if isinstance(node, Clause):
        return _compile_clause(node, ctx)
    parts = [_compile_node(child, ctx) for child in node.children]
    params = [p for _, ps in parts for p in ps]
    if node.op == "not":
        return f"NOT ({parts[0][0]})", params
    joiner = " AND " if node.op == "and" else " OR "
    return "(" + joiner.join(sql for sql, _ in parts) + ")", params


def _changed(clause: Clause, ctx: JqlContext) -> Sql:
    """``status CHANGED [AFTER d] [BEFORE d] [FROM s] [TO s]``: a status change in the issue's changelog
    (only ``status`` is searched this way here)."""
    if clause.field.lower() != "status":
        raise JqlError(f"The sandbox supports CHANGED on the status field only, not '{clause.field}'.")
    where = ["c.issue_id = i.id", "json_extract(j.value, '$.field') = 'status'"]
    params: list[Any] = []
    for predicate, value in clause.predicates:
        if predicate in ("after", "before"):
            where.append(f"c.created {'>' if predicate == 'after' else '<'} ?")
            params.append(format_time(jql_moment(value, datetime.now(UTC))))
        else:
            status = ctx.cat.status(value.text) if value.kind == "text" else None
            if status is None:
                raise _no_value(clause, value)
            where.append(f"json_extract(j.value, '${'.from' if predicate == 'from' else '.to'}') = ?")
            params.append(status.id)
    sql = "EXISTS (SELECT 1 FROM changelog c, json_each(c.items) j WHERE " + " AND ".join(where) + ")"  # noqa: S608
    return sql, params


def _compile_clause(clause: Clause, ctx: JqlContext) -> Sql:
    name = clause.field.lower()
    if clause.op == "changed":
        return _changed(clause, ctx)
    if (
        name == "resolution"
        and clause.op in EQUALITY_OPS
        and any(v.text.lower() == "unresolved" for v in clause.values)
    ):
        return ("i.resolution_id IS NULL" if clause.op in ("=", "in") else "i.resolution_id IS NOT NULL"), []
    handler = JQL_FIELDS.get(name)
    if handler is not None:
        return handler(clause, ctx)
    if name in UNSUPPORTED_FIELDS:
        raise JqlError(f"The sandbox does not support searching on the field '{clause.field}'.")
    return _custom_field_handler(clause, ctx)


def compile_jql(query: JqlQuery, ctx: JqlContext) -> tuple[str, list[Any], str]:
    """WHERE clause, its parameters and the ORDER BY list (table alias ``i``)."""
    where, params = _compile_node(query.where, ctx) if query.where is not None else ("1", [])
    order: list[str] = []
    for name, descending in query.order:
        columns = ORDER_COLUMNS.get(name)
        if columns is None:
            raise JqlError(f"Not able to sort using field '{name}'.")
        order.extend(f"{col} {'DESC' if descending else 'ASC'}" for col in columns)
    order.append("i.id DESC" if not query.order else f"i.id {'DESC' if query.order[0][1] else 'ASC'}")
    return where, params, ", ".join(order)
