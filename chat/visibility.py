"""What each side of a chat is shown of its events (issue 13: visibility).

Agents and supervisors are shown every event as the live log stored it. A
customer is shown only the events with visibility ``all``, each with its
``customer_seq`` (chat.livelog numbers those) as its ``seq``: the customer's
seq counts from 1 with no gap, as the contract says, and has no hole where
an internal event was. The registry puts every frame to a socket that is not
an agent's or a supervisor's through ``for_customer`` (chat.registry), so
no path (live, replay on resume, after a takeover, an acknowledgement of a
re-sent message) can hand a customer an internal event.
"""
from __future__ import annotations

from typing import Any

from .session import customer_seq, is_internal


def for_customer(frame: dict[str, Any]) -> dict[str, Any] | None:
    """``frame`` as a customer is shown it; None for an internal event. Frames that
    are not events (no ``seq``: started, resumed, typing, errors) pass as they are."""
    if "seq" not in frame:
        return None if is_internal(frame) else frame
    if is_internal(frame):
        return None
    if "customer_seq" not in frame and "customer_saved_seq" not in frame:
        return frame
    shown = {**frame, "seq": customer_seq(frame)}
    shown.pop("customer_seq", None)
    if "customer_saved_seq" in shown:  # a ucs-save notice: the save point in the customer's count
        shown["saved_seq"] = shown.pop("customer_saved_seq")
    return shown
