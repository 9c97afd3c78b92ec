"""Every Prometheus metric of a chat server instance, declared once (issue 12).

Two kinds:

- Counters and histograms the code bumps where a thing happens (a takeover, a
  lease renewal, an event stored, a frame refused): cheap, a lock and an add.
- Gauges read at scrape time from the parts that own the state (the role
  machine, the chat service, the due-save record in Redis) by ``StateCollector``,
  so that nothing keeps a second copy of a count that could drift.

``GET /metrics`` (ha.views.metrics) serves them; docs/operations.md lists them
with alert rules.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

TAKEOVERS = Counter(
    "chat_takeovers", "Times this instance became primary, by how (takeover: the primary was gone; "
    "switchover: it was handed the lease).", ["how"])
RESTORE_SECONDS = Histogram(
    "chat_restore_seconds", "How long making the pair's open sessions this instance's took before it "
    "served (read, fold, the takeover's events stored).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
SESSIONS_RESTORED = Counter("chat_sessions_restored", "Open sessions taken over at the start of a term.")
LEASE_RENEWAL_SECONDS = Histogram(
    "chat_lease_renewal_seconds", "The primary's lease renewals, from ask to answer (Redis round trip "
    "on the keeper's thread).", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
EVENTS_STORED = Counter("chat_events_stored", "Session events stored in the live log and sent, by type.",
                        ["type"])
DELIVERY_SECONDS = Histogram(
    "chat_message_delivery_seconds", "A message frame, from the server taking it to its event sent to "
    "every follower (session lock, live log append, fan-out).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
FRAMES_REFUSED = Counter(
    "chat_frames_refused", "Frames answered with an error, by error code (rate-limited, bad-text, ...).",
    ["code"])
APPENDS_UNREPLICATED = Counter(
    "chat_appends_unreplicated", "Live log events sent before the Redis replicas acknowledged them "
    "(REDIS_ACK_REPLICAS; a lagging or missing replica): what a Redis master failover then could lose.")
EPOCHS_UNREPLICATED = Counter(
    "chat_epochs_unreplicated", "Terms begun before a Redis replica acknowledged their epoch "
    "(REDIS_ACK_REPLICAS): a Redis master failover then could reuse that epoch.")
TRANSCRIPT_SAVES = Counter(
    "chat_transcript_saves", "Transcript saves the workers reported back to this instance, by outcome "
    "(saved; failed: out of retries or refused; the save stays owed, see chat_transcripts_owed).",
    ["outcome"])
SOCKETS_CLOSED_BY_SERVER = Counter(
    "chat_sockets_closed_by_server", "Sockets the server closed for what they did, by why "
    "(flood, too-many-sockets, internal-error, stopped-reading, not-utf-8).", ["why"])
STANDBY_SOCKETS = Gauge(
    "chat_standby_sockets", "Standby sockets this instance holds (docs/protocol.md): clients that will "
    "resume here, with no handshake, if their primary goes. On a backup, compare with the primary's "
    "chat_sockets: the clients covered.")
STANDBY_TAKEN_UP = Counter(
    "chat_standby_sockets_taken_up", "Standby sockets that sent their first frame, by outcome (served: "
    "this instance served, or took over and then served; refused: another member served).", ["outcome"])
RESUMES = Counter(
    "chat_resumes", "Participants that resumed a chat session on this instance, by role: after a "
    "takeover, the clients coming back (compare with chat_sessions_restored_total).", ["role"])


TRANSCRIPTS_OWED = Gauge("chat_transcripts_owed", "Transcripts owed a save (the due-save record in Redis).",
                         ["pair"])
TRANSCRIPTS_STUCK = Gauge("chat_transcripts_stuck", "Transcripts owed a save for longer than "
                          "transcripts.due.STUCK_AFTER_S (their live logs are kept: look).", ["pair"])
TRANSCRIPT_SAVE_LAG = Gauge("chat_transcript_save_lag_seconds", "How long the oldest owed transcript save "
                            "has been owed (0: none owed).", ["pair"])


async def read_owed_transcripts(client: Any, pair: str) -> None:
    """Set the transcript gauges from the due-save record (a scrape does this first;
    the async client, so that a slow Redis never blocks the event loop)."""
    from transcripts.due import STUCK_AFTER_S

    from . import rediskeys

    key = rediskeys.pair_saves_owed(pair)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.zcard(key)
    pipe.zrange(key, 0, 0, withscores=True)
    (seconds, micros), owed, oldest = await pipe.execute()
    now = int(seconds) + int(micros) / 1e6
    TRANSCRIPTS_OWED.labels(pair).set(owed)
    TRANSCRIPTS_STUCK.labels(pair).set(await client.zcount(key, "-inf", now - STUCK_AFTER_S) if owed else 0)
    TRANSCRIPT_SAVE_LAG.labels(pair).set(max(now - oldest[0][1], 0.0) if oldest else 0.0)


class StateCollector(Collector):
    """Gauges of what the instance holds now, read from their owners at each scrape."""

    def __init__(self, instance: Any, chats: Any) -> None:
        self.instance = instance
        self.chats = chats

    def collect(self) -> Iterator[Metric]:
        instance, chats = self.instance, self.chats
        labels = ["pair", "instance"]
        who = [instance.pair, instance.name]
        serving = GaugeMetricFamily("chat_serving", "1 while this instance serves its pair (the primary).",
                                    labels=labels)
        serving.add_metric(who, 1.0 if instance.serving else 0.0)
        yield serving
        epoch = GaugeMetricFamily("chat_epoch", "The pair's epoch as this instance last saw it.", labels=labels)
        epoch.add_metric(who, float(max(instance.epoch, instance.pair_epoch)))
        yield epoch
        sessions = GaugeMetricFamily("chat_open_sessions", "Open chat sessions this instance serves.",
                                     labels=labels)
        sessions.add_metric(who, float(len(chats.sessions)))
        yield sessions
        queued = GaugeMetricFamily("chat_queued_sessions", "Chats waiting for an agent.", labels=labels)
        queued.add_metric(who, float(len(chats.messages.waiting)))
        yield queued
        sockets = GaugeMetricFamily("chat_sockets", "Websockets attached to this instance, by kind.",
                                    labels=[*labels, "kind"])
        for kind, count in chats.registry.socket_counts().items():
            sockets.add_metric([*who, kind], float(count))
        yield sockets
        agents = GaugeMetricFamily("chat_agents_available", "Agents present and ready for chats.", labels=labels)
        agents.add_metric(who, float(chats.registry.available_count()))
        yield agents


_installed: StateCollector | None = None


def install(instance: Any, chats: Any) -> None:
    """Register the state gauges of this process's instance (its composition root)."""
    global _installed
    if _installed is not None:
        REGISTRY.unregister(_installed)
    _installed = StateCollector(instance, chats)
    REGISTRY.register(_installed)
