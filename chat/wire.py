"""JSON on the message path: the events to and from the live log, the frames to
the sockets, the sessions' snapshots. orjson, because a takeover reads, folds
and sends every open chat's events at once: the standard library's encoder and
decoder were a tenth of what the server spent then (bench/README.md, 2026-12-07).

What a client sends is still read by the standard library (chat.inbound): a
lone surrogate it escapes must reach the text checks, and be refused there as
``bad-text``, where orjson would refuse the whole frame as ``bad-json``.
"""
from __future__ import annotations

import json
from typing import Any

import orjson

loads = orjson.loads


def event_bytes(event: dict[str, Any]) -> bytes:
    """An event as the live log stores it: compact, keys in the order given (the
    append script reads a leading ``"visibility"``)."""
    return orjson.dumps(event)


def text(value: Any) -> str:
    """JSON text, compact. A string orjson refuses (a lone surrogate, which no
    checked input holds, echoed in an error frame) goes through the standard
    library, which escapes it."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def frame_text(frame: dict[str, Any]) -> str:
    """A frame's text for a socket."""
    return text(frame)
