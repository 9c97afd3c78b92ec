"""What a worker tells the serving instance of a pair about a save, over the channel layer.

The worker sends to the pair's group; transcripts.live on the serving instance
listens there and turns a report into notices or a close. Message types name
the listener's handler as in Channels (``transcript.saved`` -> ``transcript_saved``).
"""
from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

SAVED = "transcript.saved"
FAILED = "transcript.failed"


def group(pair: str) -> str:
    """The channel layer group that the serving instance of ``pair`` listens to."""
    return f"transcripts.{pair}"


def report_saved(pair: str, session_id: str, seq: int) -> None:
    _send(pair, {"type": SAVED, "session_id": session_id, "seq": seq})


def report_failed(pair: str, session_id: str, error: str) -> None:
    """``error`` is the kind of failure (store.SaveFailed.kind), safe to show to a participant."""
    _send(pair, {"type": FAILED, "session_id": session_id, "error": error})


def _send(pair: str, message: dict[str, object]) -> None:
    async_to_sync(get_channel_layer().group_send)(group(pair), message)
