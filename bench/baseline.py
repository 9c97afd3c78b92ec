"""The plainest Channels group chat, the yardstick of bench/load.py.

It is the Channels tutorial's chat room: a socket joins the group named by its
``group`` query parameter, every frame it sends goes to the group with
``group_send``, and every group event goes out to the socket as it came in.
Each message thus pays what a Channels app on the Redis layer pays (a
group_send, then a layer receive per member), where our path stores the
event with one Lua call and fans it out in-process.

It uses the channels_redis layer of settings.CHANNEL_LAYERS with two changes
that a deployment of this size would make too, both confined to this layer
(the chat server's own settings stay as the project ships them):

- a larger ``capacity``: channels_redis counts that capacity per process, not
  per socket (every consumer of a process shares one Redis key), so its
  default of 100 drops group messages, silently, as soon as 100 are in flight
  in one server;
- a larger Redis pool: channels_redis builds a plain ``ConnectionPool`` from
  the host's address, and redis-py 8 caps one at 100 connections and raises
  ``MaxConnectionsError`` beyond. 200 sockets sending at once exceed that:
  daphne closes a socket on every error (measured: 101 of 400 sockets closed,
  half the messages lost), which would measure the cap, not the group chat.

Routed at /ws/bench/baseline/ only when settings.BENCH_BASELINE is on.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import channel_layers
from channels_redis.core import RedisChannelLayer
from django.conf import settings

# What channels_redis accepts as a group name.
GROUP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,99}")
CLOSE_BAD_GROUP = 4000

LAYER_ALIAS = "bench-baseline"
# Messages in flight in one server process: room for 2 x 1000 chats with 5
# unacknowledged messages each.
LAYER_CAPACITY = 10_000
# Redis connections of the layer's pool: one per socket with a frame in flight
# for 2 x 500 chats (the bench's usual load is 2 x 200).
LAYER_MAX_CONNECTIONS = 1_000

_config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
channel_layers.backends[LAYER_ALIAS] = RedisChannelLayer(**{
    **_config,
    "hosts": [{**host, "max_connections": LAYER_MAX_CONNECTIONS} for host in _config["hosts"]],
    "capacity": LAYER_CAPACITY,
})


class BaselineConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = LAYER_ALIAS
    group: str | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        group = query.get("group", [""])[0]
        if not GROUP_NAME.fullmatch(group):
            await self.close(code=CLOSE_BAD_GROUP)
            return
        # Joined before the handshake completes: a client that is connected is in the group.
        await self.channel_layer.group_add(group, self.channel_name)
        self.group = group
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": "chat.message", "frame": json.loads(text_data or "{}")}
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event["frame"]))
