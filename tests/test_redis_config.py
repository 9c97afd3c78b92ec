"""Where Redis is (chatsite.redisconf): REDIS_URL alone, or through Sentinel."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite.redisconf import RedisConfig

URL = "redis://127.0.0.1:6379/0"


def test_a_url_alone_gives_what_the_project_always_used():
    config = RedisConfig.from_values(URL)
    assert not config.uses_sentinel
    assert config.channel_layer_host(socket_timeout=10) == {"address": URL, "socket_timeout": 10}
    assert config.celery_url() == URL
    assert config.celery_transport_options() == {}


def test_sentinels_give_every_library_the_master_name_and_every_sentinel():
    config = RedisConfig.from_values(URL, "10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381", "chat", 2)
    assert config.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    host = config.channel_layer_host(socket_timeout=10)
    assert host["sentinels"] == list(config.sentinels) and host["master_name"] == "chat" and host["db"] == 2
    assert host["socket_timeout"] == 10
    assert config.celery_url() == "sentinel://10.0.0.1:26379/2;sentinel://10.0.0.2:26380/2;sentinel://[::1]:26381/2"
    assert config.celery_transport_options()["master_name"] == "chat"
    assert "through the sentinels 10.0.0.1:26379" in config.describe()


@pytest.mark.parametrize("sentinels, master", [("10.0.0.1:26379", ""), ("", "chat")])
def test_half_a_sentinel_configuration_is_refused(sentinels, master):
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"):
        RedisConfig.from_values(URL, sentinels, master)


@pytest.mark.parametrize("sentinels", ["10.0.0.1", "10.0.0.1:", ":26379", "10.0.0.1:port", "10.0.0.1:70000"])
def test_a_sentinel_that_is_not_host_and_port_is_refused(sentinels):
    with pytest.raises(ImproperlyConfigured, match=r"REDIS_SENTINELS: .* is not host:port"):
        RedisConfig.from_values(URL, sentinels, "chat")


def test_a_negative_db_is_refused():
    with pytest.raises(ImproperlyConfigured, match="REDIS_DB"):
        RedisConfig.from_values(URL, "10.0.0.1:26379", "chat", -1)
