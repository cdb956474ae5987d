"""Rate limits on status notifications, so a burst of transitions (or forged webhooks) cannot flood a
customer: one notification per issue and status within ``HUB_STATUS_NOTIFY_REPEAT_MINUTES``, and at
most ``HUB_STATUS_NOTIFY_PER_HOUR`` per customer whatever the issue.

One Lua script checks and records both atomically, so two workers handling two transitions at once
cannot both slip under a limit. The time is the caller's (the journal's clock), not Redis's, so the
windows follow the same clock as everything else; Redis expiry only cleans up. A retry of a
notification that was already let through (its send failed) is let through again: the script knows it
by the journal id it recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Literal

from redis import Redis

from store.links import Link

Verdict = Literal["allowed", "repeat", "cap"]

# KEYS[1] the issue+status hash {id, at}; KEYS[2] the customer's zset (journal id -> time, seconds).
# ARGV: journal id, now (s), repeat window (s, 0 = none), hourly cap.
_CHECK_AND_RECORD = """
local id, now = ARGV[1], tonumber(ARGV[2])
local repeat_s, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local last = redis.call('HMGET', KEYS[1], 'id', 'at')
if last[1] == id or redis.call('ZSCORE', KEYS[2], id) then
  return 'allowed'
end
if repeat_s > 0 and last[2] and now - tonumber(last[2]) < repeat_s then
  return 'repeat'
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600)
if redis.call('ZCARD', KEYS[2]) >= cap then
  return 'cap'
end
redis.call('ZADD', KEYS[2], now, id)
redis.call('EXPIRE', KEYS[2], 7200)
if repeat_s > 0 then
  redis.call('HSET', KEYS[1], 'id', id, 'at', now)
  redis.call('EXPIRE', KEYS[1], repeat_s + 3600)
end
return 'allowed'
"""


def check_status_notification(
    redis: Redis,
    link: Link,
    status: str,
    message_id: str,
    now: dt.datetime,
    *,
    repeat_minutes: int,
    per_hour: int,
) -> Verdict:
    """Whether the status notification journaled as ``message_id`` may go to ``link``'s customer now;
    when it may, it is recorded against both limits."""
    customer = _customer(link)
    issue = hashlib.sha256(f"{link.tracker}\0{link.issue_key}\0{status.lower()}".encode()).hexdigest()[:16]
    keys = [f"hub:notify:{{{customer}}}:issue:{issue}", f"hub:notify:{{{customer}}}:hour"]
    args: list[str | int] = [message_id, int(now.timestamp()), repeat_minutes * 60, per_hour]
    verdict = redis.register_script(_CHECK_AND_RECORD)(keys=keys, args=args)
    text = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
    return "repeat" if text == "repeat" else "cap" if text == "cap" else "allowed"


def _customer(link: Link) -> str:
    """Whom a link's notifications reach: the Telegram chat, else the e-mail address (hashed: no PII in
    a key)."""
    if link.telegram_chat_id is not None:
        who = f"telegram:{link.telegram_chat_id}"
    else:
        who = f"email:{(link.requester_email or link.conversation_key).lower()}"
    return hashlib.sha256(who.encode()).hexdigest()[:16]
