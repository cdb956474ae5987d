"""Issue links and remote links as Jira takes them: the link type a name or phrase means, and the bodies of
``POST /issueLink`` and ``POST /issue/{key}/remotelink``.

A link reads "source <outward phrase> target" (``Blocks``: source blocks target) and is sent with the
source as ``inwardIssue``: Jira shows the inward issue with the type's outward phrase
(mozilla/jira-bugzilla-integration#1285, atlassian/atlassian-mcp-server#112, both observed on live Jira).
A remote link with a ``globalId`` is updated when the issue has one with that id, else created (Cloud
OpenAPI spec, ``createOrUpdateRemoteIssueLink``; research/jira.md §1.6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connector.errors import TrackerRejected
from connector.types import LinkType

APPLICATION = {"type": "trackerhub", "name": "trackerhub"}  # how Jira groups the hub's remote links


def link_types_from(data: Mapping[str, Any]) -> list[LinkType]:
    """``GET /issueLinkType``'s ``issueLinkTypes`` as ``LinkType`` values."""
    return [
        LinkType(str(t.get("name")), str(t.get("inward")), str(t.get("outward")))
        for t in data.get("issueLinkTypes") or []
        if isinstance(t, Mapping)
    ]


def resolve(types: Sequence[LinkType], wanted: str) -> tuple[LinkType, bool]:
    """The type named ``wanted`` (its name, outward or inward phrase, case-insensitive), and whether the
    inward phrase was meant (the link then reads the other way). ``TrackerRejected`` naming the types
    there are when none matches."""
    folded = wanted.strip().casefold()
    readings: tuple[tuple[Callable[[LinkType], str], bool], ...] = (
        (lambda t: t.name, False),
        (lambda t: t.outward, False),
        (lambda t: t.inward, True),
    )
    for phrase, inward in readings:
        found = next((t for t in types if phrase(t).casefold() == folded), None)
        if found is not None:
            return found, inward and found.inward.casefold() != found.outward.casefold()
    raise TrackerRejected(f"jira has no link type {wanted!r}; it has {sorted(t.name for t in types)}", 400)


def link_body(kind: LinkType, reverse: bool, source: str, target: str) -> dict[str, Any]:
    """``POST /issueLink``: "``source`` <outward> ``target``", or the other way round when ``reverse``."""
    inward, outward = (target, source) if reverse else (source, target)
    return {"type": {"name": kind.name}, "inwardIssue": {"key": inward}, "outwardIssue": {"key": outward}}


def remote_link_body(url: str, title: str, global_id: str) -> dict[str, Any]:
    """``POST /issue/{key}/remotelink``, upserted by ``global_id``."""
    return {"globalId": global_id, "application": APPLICATION, "object": {"url": url, "title": title}}
