"""The front door's HAProxy config is written from the pair's own rows (issue 12)."""
from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command

from ha import frontdoor
from ha.models import Application


@pytest.fixture
def pair(db) -> list[Application]:
    """The pair `chat`, its backup created first (the config still lists the primary first)."""
    return [
        Application.objects.create(name="chat-backup", pair="chat", configured_role="backup",
                                   host="10.0.0.6", port=9002),
        Application.objects.create(name="chat-primary", pair="chat", configured_role="primary",
                                   host="10.0.0.5", port=9001),
    ]


def test_it_lists_every_member_of_the_pair_the_configured_primary_first(pair, tmp_path):
    """Each member is a server line at its host and port, checked; the configured primary comes first."""
    output = tmp_path / "door.cfg"
    call_command("frontdoor_config", "chat", port=8100, output=str(output))
    servers = re.findall(r"^\s+server (\S+) (\S+)$", output.read_text(), re.MULTILINE)
    assert servers == [("chat-primary", "10.0.0.5:9001"), ("chat-backup", "10.0.0.6:9002")]


def test_it_checks_readyz_on_every_member_fast_enough_for_a_failover(pair):
    """GET /readyz, 200 expected, every 200 ms, one answer moving a member in or out of rotation."""
    text = frontdoor.render(*frontdoor.members_of("chat"), port=8100)
    assert "option httpchk" in text
    assert "http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1:8100" in text
    assert "http-check expect status 200" in text
    assert "default-server check inter 200ms fastinter 200ms downinter 200ms fall 1 rise 1" in text
    assert "balance first" in text


def test_it_listens_on_the_given_port_keeps_websockets_open_and_denies_metrics(pair):
    """The door binds its own address; a websocket's tunnel lasts all day; /metrics is refused."""
    text = frontdoor.render(*frontdoor.members_of("chat"), host="0.0.0.0", port=8100,
                            check_host="chat.example.com")
    assert re.search(r"^\s+bind 0\.0\.0\.0:8100$", text, re.MULTILINE)
    assert "hdr Host chat.example.com" in text
    assert re.search(r"^\s+timeout tunnel 24h$", text, re.MULTILINE)
    assert "http-request deny deny_status 403 if { path /metrics /metrics/ }" in text
    assert "mode http" in text


def test_haproxy_accepts_the_config(pair, tmp_path):
    """The Debian haproxy that make test installs finds nothing wrong with what is written."""
    haproxy = frontdoor.haproxy_binary()
    assert haproxy is not None, "haproxy is missing: make test installs it (apt-get install haproxy)"
    path = frontdoor.write(tmp_path / "door.cfg", frontdoor.render(*frontdoor.members_of("chat")))
    assert frontdoor.check(haproxy, path) is None


def test_it_takes_the_only_pair_when_none_is_named_and_refuses_to_guess_among_several(pair, tmp_path):
    """With one pair the name may be left out; with two, or a wrong one, the command says which exist."""
    output = tmp_path / "door.cfg"
    call_command("frontdoor_config", output=str(output))
    assert "server chat-primary 10.0.0.5:9001" in output.read_text()

    Application.objects.create(name="other-a", pair="other", host="10.0.1.5", port=9001)
    with pytest.raises(CommandError, match="name the pair: the database holds chat, other"):
        call_command("frontdoor_config", output=str(output))
    with pytest.raises(CommandError, match="no application of pair 'nope'"):
        call_command("frontdoor_config", "nope", output=str(output))


def test_the_origin_is_what_the_members_origin_check_wants():
    """The door's origin for CHAT_ALLOWED_ORIGINS, brackets around an IPv6 address."""
    assert frontdoor.origin("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert frontdoor.origin("::1", 8000) == "http://[::1]:8000"
    assert frontdoor.Member("a", "::1", 8001).address == "[::1]:8001"
