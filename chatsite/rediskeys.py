"""Every Redis key the project writes, in one place.

All keys start with settings.REDIS_PREFIX, so that several stacks (a live
``make run`` and a test run) share one Redis server without meeting.
"""
from django.conf import settings


def _key(*parts: str) -> str:
    return ":".join((settings.REDIS_PREFIX, *parts))


# The HA pair.
def pair_epoch(pair: str) -> str:
    """The pair's epoch: raised by one at each takeover; fences every write."""
    return _key("pair", pair, "epoch")


def pair_lease(pair: str) -> str:
    """Name of the instance that serves the pair; expires unless renewed."""
    return _key("pair", pair, "lease")


def pair_last_primary(pair: str) -> str:
    """Name of the instance that last claimed the lease (kept, unlike the lease)."""
    return _key("pair", pair, "last-primary")


def pair_holder_connection(pair: str) -> str:
    """The lease holder's Redis connection id (CLIENT ID), kept with the lease: when
    that connection is gone, the holder's process is gone."""
    return _key("pair", pair, "holder-conn")


def pair_handover(pair: str) -> str:
    """Set by a switchover: names the backup the lease was handed to, until it adopts it."""
    return _key("pair", pair, "handover")


def pair_switchover(pair: str) -> str:
    """An operator's switchover request (ha_switchover): names the target backup."""
    return _key("pair", pair, "switchover")


def instance_alive(pair: str, name: str) -> str:
    """Present while instance ``name`` of ``pair`` runs; expires with the lease TTL."""
    return _key("pair", pair, "alive", name)


def pair_open_sessions(pair: str) -> str:
    """Set of the ids of the pair's open chat sessions."""
    return _key("pair", pair, "open")


def pair_queue(pair: str) -> str:
    """Sorted set of the ids of chat sessions waiting for an agent, scored by
    arrival (1, 2, ...: first in line first). Named apart from the list it
    replaced, so that an old list is never read as the set."""
    return _key("pair", pair, "waiting")


def pair_presence(pair: str) -> str:
    """JSON of the agents available and chats waiting, as the serving member last
    wrote it (chat.availability); expires within seconds of nobody serving."""
    return _key("pair", pair, "presence")


def offline_messages_of(address: str) -> str:
    """Offline messages left from one client address this hour (transcripts.offline)."""
    return _key("offline-messages", address)


# One chat session.
def session_meta(session_id: str) -> str:
    """Hash: who takes part, status, token hash, assigned agent."""
    return _key("session", session_id, "meta")


def session_log(session_id: str) -> str:
    """List of the session's events as JSON; event seq N is at index N-1."""
    return _key("session", session_id, "log")


def session_client_ids(session_id: str) -> str:
    """Hash client_id -> seq, so that a re-sent message is stored once."""
    return _key("session", session_id, "client-ids")


# Who is logged in (chat.identity).
def user_of_session(session_key_hash: str) -> str:
    """JSON of the user a Django session belongs to, for agent sockets."""
    return _key("auth", "session", session_key_hash)


def sessions_of_user(user_pk: int) -> str:
    """Set of the user_of_session keys made for a user, to forget them together."""
    return _key("auth", "user", str(user_pk))


def logouts() -> str:
    """Pub/sub channel: the hash of each Django session that logged out, so that the
    serving instance closes the agent sockets of that login (chat.logouts)."""
    return _key("auth", "logouts")


def login_failures(kind: str, value_hash: str) -> str:
    """Failed logins of one username or client address (``kind``), counted within the
    throttle's window; expires with it (chat.login_throttle)."""
    return _key("auth", "login-failures", kind, value_hash)


# The due-save record of a pair's transcripts (chat.livelog, issue 10).
def pair_saves_owed(pair: str) -> str:
    """Sorted set of the sessions whose transcript is owed a save, scored by since
    when (Redis's clock, unix seconds): a save is owed from the event that calls for
    it until a worker has stored that event."""
    return _key("pair", pair, "saves-owed")


def pair_saves_due(pair: str) -> str:
    """Sorted set of the same sessions, scored by when the sweeper next hands their
    save to the broker (unix seconds)."""
    return _key("pair", pair, "saves-due")


def pair_saves_upto(pair: str) -> str:
    """Hash session id -> the seq the owed save must reach."""
    return _key("pair", pair, "saves-upto")


# The operator's commands (chat.operator, issue 12).
def operator_commands() -> str:
    """Pub/sub channel: an operator's command from the admin, such as closing a chat,
    for the instance that serves the session (whichever member served the admin)."""
    return _key("operator", "commands")
