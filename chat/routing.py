from django.conf import settings
from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/chat/", consumers.CustomerConsumer.as_asgi()),
    path("ws/agent/", consumers.AgentConsumer.as_asgi()),
]

if settings.BENCH_BASELINE:
    from bench.baseline import BaselineConsumer

    websocket_urlpatterns.append(path("ws/bench/baseline/", BaselineConsumer.as_asgi()))
