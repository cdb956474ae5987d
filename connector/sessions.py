"""HTTP sessions that read the environment once, not on every request."""

from __future__ import annotations

import requests


def pin_environment(session: requests.Session, url: str) -> None:
    """Resolve what ``requests`` takes from the environment for ``url`` now, and stop it re-reading.

    With ``trust_env`` on, every request walks all of ``os.environ`` to find proxy and ``no_proxy``
    settings (``requests.utils.get_environ_proxies``); profiled in a worker, that was about a fifth of
    the CPU a delivery spends. The result is the same for every request to one tracker, so the proxies
    and CA bundle it gives (``Session.merge_environment_settings``: ``*_proxy``, ``no_proxy``,
    ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are set on the session once. Our sessions send their
    own credentials, so ``.netrc``, the other thing ``trust_env`` reads, is not needed.
    """
    resolved = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(resolved.get("proxies") or {})
    session.verify = resolved.get("verify", session.verify)
    session.trust_env = False
