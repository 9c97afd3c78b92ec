"""The front door (issue 12): one stable address for a pair, an HAProxy in front
of its members that sends every request and websocket to the member that serves.

The config is written from the pair's own Application rows (host and port of
each member), so it never disagrees with the admin: change a member there and
write the config again (``python manage.py frontdoor_config``). What it
guarantees:

- Only a member whose ``GET /readyz`` answers 200 is in rotation: that is the
  serving primary alone (ha.views.readyz). One exception, at HAProxy's start:
  2.6 counts every server up until its first check (at most one interval; it
  has no ``init-state``), so the configured primary is listed first and
  ``balance first`` picks it; a backup reached then refuses a websocket with
  not-primary, as it always does, and the pages try again.
- A change of primary reaches the door within one check interval; see the
  CHECK_* constants for the timings and why.
- Websockets (``/ws/...``) go through HAProxy's HTTP mode (it follows the
  Upgrade), with a tunnel timeout long enough for an agent desktop that stays
  open all day.
- ``/metrics`` is not served through the door: it is for the operator's
  scraper, on each member's own address.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .models import Application

DEFAULT_PORT = 8000
CHECK_PATH = "/readyz"
# One check every 200 ms; one answer changes a member's state (fall 1, rise 1).
# A killed primary is replaced by its backup within about the backup's watch
# interval (ha-watch-interval-ms, 100 ms) plus the restore: a new primary is in
# rotation at most one interval after it serves, and a demoted or dead one is out
# of it at most one interval after it stops. A check that fails once (a stalled
# event loop) takes the primary out for one interval only, and only for new
# connections: the sockets already open are left alone (no shutdown-sessions),
# the pages retry a refused one by themselves.
CHECK_INTERVAL_MS = 200
CHECK_TIMEOUT_MS = 1000  # /readyz answers from memory; a member slower than this is as good as down
CHECK_FALL = 1
CHECK_RISE = 1
# A connection the dead primary refuses before its check has noticed is tried
# again (after min(timeout connect, 1 s)) on whichever member is up by then.
CONNECT_TIMEOUT_MS = 1000
CONNECT_RETRIES = 2
# Agents keep their desktop open all day and never reload it; the server pings
# every socket, but a long tunnel timeout keeps HAProxy itself from ever being
# the one that cuts a quiet chat.
TUNNEL_TIMEOUT = "24h"
# Never through the door (a 403): the operator scrapes each member directly.
DENIED_PATHS = ("/metrics", "/metrics/")


class FrontDoorError(Exception):
    """The config cannot be written: an unknown pair, a pair with no members."""


@dataclass(frozen=True)
class Member:
    """One server line of the config: a member's name and where HAProxy reaches it."""

    name: str
    host: str
    port: int

    @classmethod
    def of(cls, application: Application) -> Member:
        return cls(application.name, application.host, application.port)

    @property
    def address(self) -> str:
        host = self.host.strip("[]")
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def members_of(pair: str | None = None) -> tuple[str, list[Member]]:
    """The pair's name and members, from the database. With no name, the only pair
    there is; FrontDoorError when that does not say which."""
    pairs = sorted(set(Application.objects.values_list("pair", flat=True)))
    if pair is None:
        if len(pairs) != 1:
            raise FrontDoorError(f"name the pair: the database holds {', '.join(pairs) or 'none'}")
        pair = pairs[0]
    applications = list(Application.objects.filter(pair=pair).order_by("name"))
    if not applications:
        raise FrontDoorError(f"no application of pair {pair!r}; pairs: {', '.join(pairs) or 'none'}")
    # The configured primary first: HAProxy's `balance first` then picks it in the
    # (at most one interval long) moment when both members answer 200.
    applications.sort(key=lambda app: app.configured_role != Application.Role.PRIMARY)
    return pair, [Member.of(app) for app in applications]


def origin(host: str, port: int) -> str:
    """The front door's origin, as the members' Origin check (CHAT_ALLOWED_ORIGINS) wants it."""
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def render(pair: str, members: Iterable[Member], *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
           check_host: str | None = None) -> str:
    """The HAProxy config of a front door for ``members`` on ``host``:``port``.

    ``check_host`` is the Host header of the health checks (default: the door's
    own address, which the members' ALLOWED_HOSTS must let in anyway, since every
    request through the door carries it)."""
    bind = origin(host, port).removeprefix("http://")
    check_host = check_host or bind
    servers = "\n".join(f"    server {member.name} {member.address}" for member in members)
    denied = " ".join(DENIED_PATHS)
    every = f"{CHECK_INTERVAL_MS}ms"
    timings = f"inter {every} fastinter {every} downinter {every} fall {CHECK_FALL} rise {CHECK_RISE}"
    return f"""\
# The front door of pair {pair}: written by `python manage.py frontdoor_config` from
# the pair's Application rows; write it again after a change in the admin.
# No log section: run in the foreground (-db), HAProxy writes a member going up or
# down to its stderr, and nothing about each request.
defaults
    mode http
    timeout connect {CONNECT_TIMEOUT_MS}ms
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout client-fin 5s
    timeout tunnel {TUNNEL_TIMEOUT}
    retries {CONNECT_RETRIES}
    option redispatch 1

frontend chat_{pair}
    bind {bind}
    option forwardfor
    http-request deny deny_status 403 if {{ path {denied} }}
    default_backend members_{pair}

backend members_{pair}
    # Only the serving primary answers {CHECK_PATH} with 200: it alone is in rotation.
    balance first
    option httpchk
    http-check send meth GET uri {CHECK_PATH} ver HTTP/1.1 hdr Host {check_host}
    http-check expect status 200
    timeout check {CHECK_TIMEOUT_MS}ms
    default-server check {timings}
{servers}
"""


def write(path: Path, text: str) -> Path:
    """Write the config (its directory made if missing); the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def haproxy_binary() -> str | None:
    """The haproxy program (Debian puts it in /usr/sbin, off a user's PATH), or None."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def check(haproxy: str, path: Path) -> str | None:
    """None when haproxy accepts the config at ``path``; its complaint otherwise."""
    result = subprocess.run([haproxy, "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else (result.stdout + result.stderr).strip()


def command(haproxy: str, path: Path) -> list[str]:
    """How to run it in the foreground, as a child that stops on SIGTERM."""
    return [haproxy, "-db", "-f", str(path)]
