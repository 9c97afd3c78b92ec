"""How much one socket, and one client address, may ask of the server.

The customer socket is public: a script can send thousands of frames a
second, open hundreds of chats, or hold thousands of sockets. These rules
bound each of those. They are plain bookkeeping with the clock passed in (no
I/O); the consumers ask before acting, and the numbers are options
(ha.options), so a running instance picks up a change.

- Per socket: messages and typing notices, each a token bucket over ten
  seconds (past it: a ``rate-limited`` error naming the limit, the frame
  dropped); every frame together, a larger bucket (past it: a flood, the socket
  is closed with 4008 and cleaned up as on a disconnect).
- Per client address: sockets open at once, and new chats a minute. Addresses
  in ``CHAT_TRUSTED_ADDRESSES`` are not counted: the machine itself and a front
  door (a proxy) each speak for many customers.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .frames import ErrorCode
from .session import ChatError

WINDOW_S = 10.0
NEW_CHATS_WINDOW_S = 60.0
# A resume replays what the client missed: a few per socket are plenty (a page
# resumes once per connection), more is a client asking for the log again and again.
RESUMES_PER_WINDOW = 5


class Limit(StrEnum):
    """The limits, by the option that sets each."""

    MESSAGES = "socket-messages-per-10s"
    TYPING = "socket-typing-per-10s"
    RESUMES = "resumes-per-10s"  # fixed: RESUMES_PER_WINDOW
    FRAMES = "socket-frames-per-10s"
    ADDRESS_SOCKETS = "address-sockets"
    ADDRESS_NEW_CHATS = "address-new-chats-per-minute"


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` takes at once, refilled evenly over ``window_s``."""

    tokens: float = -1.0  # full at the first take
    at: float = 0.0

    def take(self, now: float, capacity: int, window_s: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.at = float(capacity), now
        self.tokens = min(float(capacity), self.tokens + (now - self.at) * capacity / window_s)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def rate_limited(limit: Limit, settings: Mapping[str, Any], per: str) -> ChatError:
    return ChatError(ErrorCode.RATE_LIMITED,
                     f"rate limit {limit}: at most {settings[limit]} {per}; this one was dropped")


@dataclass(slots=True)
class SocketLimits:
    """One socket's buckets."""

    frames: TokenBucket = field(default_factory=TokenBucket)
    messages: TokenBucket = field(default_factory=TokenBucket)
    typing: TokenBucket = field(default_factory=TokenBucket)
    resumes: TokenBucket = field(default_factory=TokenBucket)

    def frame(self, now: float, settings: Mapping[str, Any]) -> bool:
        """Whether one more frame of any kind is within the socket's flood limit."""
        return self.frames.take(now, settings[Limit.FRAMES], WINDOW_S)

    def message(self, now: float, settings: Mapping[str, Any]) -> None:
        if not self.messages.take(now, settings[Limit.MESSAGES], WINDOW_S):
            raise rate_limited(Limit.MESSAGES, settings, "messages in 10 s per socket")

    def typing_notice(self, now: float, settings: Mapping[str, Any]) -> None:
        if not self.typing.take(now, settings[Limit.TYPING], WINDOW_S):
            raise rate_limited(Limit.TYPING, settings, "typing notices in 10 s per socket")

    def resume(self, now: float) -> None:
        if not self.resumes.take(now, RESUMES_PER_WINDOW, WINDOW_S):
            raise ChatError(ErrorCode.RATE_LIMITED,
                            f"rate limit {Limit.RESUMES}: at most {RESUMES_PER_WINDOW} resumes in 10 s per socket")


@dataclass(slots=True)
class _Address:
    sockets: int = 0
    new_chats: TokenBucket = field(default_factory=TokenBucket)


class Addresses:
    """Sockets open and chats started per client address (an untrusted one)."""

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self._trusted = [ipaddress.ip_network(network, strict=False) for network in trusted]
        self._by_address: dict[str, _Address] = {}

    def counted(self, address: str | None) -> bool:
        """Whether limits apply to ``address`` (None: not a TCP peer, e.g. a test's
        in-memory socket, which is trusted)."""
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return not any(ip in network for network in self._trusted)

    def open(self, address: str | None, settings: Mapping[str, Any]) -> bool:
        """Count a new socket from ``address``; False (and not counted) past the limit."""
        if not self.counted(address):
            return True
        entry = self._by_address.setdefault(address, _Address())
        if entry.sockets >= settings[Limit.ADDRESS_SOCKETS]:
            return False
        entry.sockets += 1
        return True

    def closed(self, address: str | None) -> None:
        """A socket that ``open`` counted went away."""
        entry = self._by_address.get(address) if self.counted(address) else None
        if entry is None:
            return
        entry.sockets -= 1
        if entry.sockets <= 0:
            del self._by_address[address]

    def new_chat(self, address: str | None, now: float, settings: Mapping[str, Any]) -> None:
        """A chat started from ``address``; a ChatError past its limit."""
        if not self.counted(address):
            return
        entry = self._by_address.get(address)
        if entry is None:  # no socket of it counted: nothing to hold the count
            return
        if not entry.new_chats.take(now, settings[Limit.ADDRESS_NEW_CHATS], NEW_CHATS_WINDOW_S):
            raise rate_limited(Limit.ADDRESS_NEW_CHATS, settings, "new chats a minute per client address")

    def sockets(self, address: str) -> int:
        entry = self._by_address.get(address)
        return entry.sockets if entry is not None else 0



def too_many_sockets(settings: Mapping[str, Any]) -> ChatError:
    return ChatError(ErrorCode.TOO_MANY_SOCKETS,
                     f"at most {settings[Limit.ADDRESS_SOCKETS]} sockets at once from one client address "
                     f"({Limit.ADDRESS_SOCKETS})")
