"""A participant riding through a Redis outage (issue 11)."""
from __future__ import annotations

import time

from websockets.exceptions import ConnectionClosed

from .harness import Participant

# A Redis failover takes seconds, and the pair may move its primary after it.
RIDE_THROUGH_S = 30
# After an `unavailable` answer the unacknowledged messages go again this much later,
# as the pages do (static/chat/connection.js, UNAVAILABLE_RETRY_MS).
UNAVAILABLE_RETRY_S = 0.5


def deliver(participant: Participant, timeout: float = RIDE_THROUGH_S) -> None:
    """Wait until every message the participant sent came back, as a client does
    through an outage: a frame answered 'unavailable' is sent again (its client_id
    makes that harmless), a closed socket is opened again on whichever member
    serves (which resumes and sends again what is unacknowledged)."""
    deadline = time.monotonic() + timeout
    while participant.unacked:
        if time.monotonic() > deadline:
            raise AssertionError(f"never acknowledged: {list(participant.unacked.values())}")
        try:
            frame = participant.recv(timeout=1)
            if frame.get("type") == "error" and frame.get("code") == "unavailable":
                time.sleep(UNAVAILABLE_RETRY_S)  # the store is down: a moment, then again
                for unacked in list(participant.unacked.values()):
                    participant.send(**unacked)
        except TimeoutError:
            continue
        except ConnectionClosed:
            participant.connect(timeout=max(deadline - time.monotonic(), 1))
            if participant.path == "/ws/agent/":
                participant.send(type="ready")
