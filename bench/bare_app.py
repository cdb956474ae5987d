"""The baseline for ``bench/ingest.py``: the least a webhook endpoint can do and still queue a message.

One ``POST /hooks/telegram`` route that reads the body, pushes it onto a Redis list with one ``LPUSH``
and answers 202 with a small JSON body. No secret check, no parsing, no journal: whatever the hub does
on top of this is its own cost. Served by gunicorn with the same settings as the hub, so the ratio of
the two throughputs measures the hub's code, not the server or the machine.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from redis import Redis

QUEUE_KEY = "bench:bare:telegram"

app = Flask(__name__)
# Same client options as the hub's ``jobs.queues.get_redis``; one pool per gunicorn worker process.
_redis = Redis.from_url(
    os.environ["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
)


@app.post("/hooks/telegram")
def receive_telegram() -> ResponseReturnValue:
    """Read the body, push it, answer 202."""
    body = request.get_data()
    length = _redis.lpush(QUEUE_KEY, body)
    return jsonify({"id": str(length), "status": "queued"}), 202
