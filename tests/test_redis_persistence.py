"""A single Redis started by the project keeps its data across a restart (issue 11)."""
from __future__ import annotations

from typing import Any

import redis

from chatsite import devredis, rediskeys

from .harness import Participant, free_port
from .redis_outage import deliver

READ = {"string": "get", "hash": "hgetall", "set": "smembers", "stream": "xrange",
        "list": lambda client, key: client.lrange(key, 0, -1),
        "zset": lambda client, key: client.zrange(key, 0, -1, withscores=True)}


def stored(client: redis.Redis, pair: str, session_id: str) -> dict[str, Any]:
    """What the live log holds of the session and its pair, key by key."""
    keys = [rediskeys.session_meta(session_id), rediskeys.session_log(session_id),
            rediskeys.session_client_ids(session_id), rediskeys.pair_open_sessions(pair), rediskeys.pair_epoch(pair)]
    values = {}
    for key in keys:
        read = READ.get(client.type(key).decode())
        values[key] = None if read is None else read(client, key) if callable(read) else getattr(client, read)(key)
    return values


def test_a_redis_killed_and_restarted_on_its_directory_keeps_the_open_chat(tmp_path, make_application, start_server):
    url = f"redis://127.0.0.1:{free_port()}/0"
    server_process = devredis.start_embedded(url, tmp_path)
    client = redis.Redis.from_url(url)
    carol = None
    try:
        application = make_application(session_restoration_mode="simple")
        server = start_server(application, REDIS_URL=url)
        carol = Participant([server.ws], "/ws/chat/")
        carol.connect()
        carol.send(type="start", nickname="Carol")
        started = carol.until(type="started")
        session_id = started["session_id"]
        carol.resume_frame = {"type": "resume", "session_id": session_id, "token": started["token"]}
        carol.say("before the restart")
        carol.drain_until_acked()
        before = stored(client, application.pair, session_id)
        assert all(before.values()), f"not stored: {before}"

        server_process.kill()  # SIGKILL: no shutdown, no save but the append-only file
        server_process.wait(10)
        server_process = devredis.start_embedded(url, tmp_path)

        assert stored(client, application.pair, session_id) == before
        carol.say("after the restart")
        deliver(carol)
        events = carol.events(session_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["text"] for e in events if e["type"] == "message"] == ["before the restart", "after the restart"]
    finally:
        if carol is not None:
            carol.close()
        client.close()
        server_process.kill()
        server_process.wait(10)
