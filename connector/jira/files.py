"""An issue's attachments: listed, downloaded with the hub's credentials only from Jira's own origin, and
uploaded once (a file already attached under the same name and size is skipped)."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

from connector.errors import TrackerRejected
from connector.jira.client import JiraClient, call
from connector.origins import on_origin
from connector.streams import read_capped
from connector.types import FileUpload, TrackerFile

log = logging.getLogger(__name__)


class JiraFiles(JiraClient):
    """The file operations of the ``Tracker`` protocol, on a Jira client."""

    def list_files(self, key: str) -> list[TrackerFile]:
        """The issue's attachments (``fields.attachment``) whose ``content`` is on ``JIRA_URL``'s origin.

        The session sends the hub's credentials with every request, so an address elsewhere is never
        fetched. Jira writes ``content`` with its configured base URL: one that names another host than
        ``JIRA_URL`` (a proxy, an old name) is logged, and ``JIRA_URL`` should be set to the base URL.
        """
        files = []
        for attachment in self._attachments(key):
            url = on_origin(str(attachment.get("content") or ""), self.url)
            if url is None:
                log.warning("jira.attachment_off_origin issue=%s attachment=%s", key, attachment.get("id"))
                continue
            name, size = str(attachment.get("filename")), int(attachment.get("size") or 0)
            files.append(TrackerFile(str(attachment.get("id")), name, size, url))
        return files

    def download_file(self, file: TrackerFile, max_bytes: int) -> bytes | None:
        """An attachment's bytes through the authenticated session, streamed and capped; an address off
        ``JIRA_URL``'s origin is refused without a request."""
        url = on_origin(file.url, self.url)
        if url is None:
            raise TrackerRejected(f"jira attachment {file.id} is not on {self.url}: not fetched", None)
        if file.size > max_bytes:
            return None
        return read_capped(self.stream(url), max_bytes)

    def attach_files(self, key: str, files: Sequence[FileUpload]) -> None:
        """Upload files not already on the issue (same name and size), one request each."""
        if not files:
            return
        present = {(a.get("filename"), a.get("size")) for a in self._attachments(key)}
        for upload in files:
            if (upload.filename, len(upload.content)) in present:
                continue
            call(
                lambda u=upload: self.client.add_attachment(  # type: ignore[misc]
                    issue=key, attachment=io.BytesIO(u.content), filename=u.filename
                )
            )

    def _attachments(self, key: str) -> list[dict[str, Any]]:
        data = self.get_json(f"issue/{key}", {"fields": "attachment"})
        return list((data.get("fields") or {}).get("attachment") or [])
