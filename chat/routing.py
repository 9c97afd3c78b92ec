from django.conf import settings
from django.urls import path

from . import consumers
from .identity import CachedAuthMiddlewareStack

websocket_urlpatterns = [
    # Customers are anonymous: their token is all they need, so their sockets skip
    # the session and user lookups (Channels' AuthMiddleware goes to the database
    # thread even to find nobody).
    path("ws/chat/", consumers.CustomerConsumer.as_asgi()),
    path("ws/agent/", CachedAuthMiddlewareStack(consumers.AgentConsumer.as_asgi())),
    path("ws/supervisor/", CachedAuthMiddlewareStack(consumers.SupervisorConsumer.as_asgi())),
]

if settings.BENCH_BASELINE:
    from bench.baseline import BaselineConsumer

    websocket_urlpatterns.append(path("ws/bench/baseline/", BaselineConsumer.as_asgi()))
