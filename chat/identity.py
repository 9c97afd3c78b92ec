"""Who an agent socket belongs to, without a database round trip per socket.

Channels' AuthMiddlewareStack reads the Django session and the user from the
database for every handshake, on the one thread that all ORM calls share: at
a takeover, a thousand agent desktops reconnecting at once would queue behind
each other for seconds. The first socket of a login resolves the user the
Django way and leaves what the consumer needs (id, name, active) in Redis,
under a hash of the session key; every later socket of that login, on either
member of the pair, reads it from there.

The entry lives as long as a Django session may, and goes away when what it
was made from changes: the user logs out, or the user row is saved or deleted
(a new password, a deactivation, a new name).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis
from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from chatsite import rediskeys
from ha.runtime import current

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownUser:
    """What a chat socket needs of a logged-in user (the consumer's ``scope["user"]``)."""

    pk: int
    username: str
    full_name: str
    is_active: bool
    is_authenticated: bool = True

    def get_full_name(self) -> str:
        return self.full_name


def _entry(session_key: str) -> str:
    # A hash: the session key is a bearer secret and stays out of Redis key names.
    return rediskeys.user_of_session(hashlib.sha256(session_key.encode()).hexdigest())


class CachedUserMiddleware:
    """``scope["user"]`` from the Redis entry of the session cookie; the Django way
    (session, then user, from the database) on a miss, which then fills the entry."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.django = SessionMiddleware(AuthMiddleware(self._remembering))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        session_key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
        instance = current()
        if session_key and instance is not None:
            raw = await instance.redis.get(_entry(session_key))
            if raw is not None:
                return await self.inner(dict(scope, user=KnownUser(**json.loads(raw))), receive, send)
        return await self.django(scope, receive, send)

    async def _remembering(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = scope["user"]
        session_key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
        instance = current()
        if user.is_authenticated and session_key and instance is not None:
            known = KnownUser(user.pk, user.username, user.get_full_name(), user.is_active)
            pipe = instance.redis.pipeline(transaction=False)
            pipe.set(_entry(session_key), json.dumps(known.__dict__), ex=settings.SESSION_COOKIE_AGE)
            pipe.sadd(rediskeys.sessions_of_user(user.pk), _entry(session_key))
            pipe.expire(rediskeys.sessions_of_user(user.pk), settings.SESSION_COOKIE_AGE)
            await pipe.execute()
        return await self.inner(scope, receive, send)


def CachedAuthMiddlewareStack(inner: Any) -> CookieMiddleware:
    """AuthMiddlewareStack's twin, with the user read from Redis when it can be."""
    return CookieMiddleware(CachedUserMiddleware(inner))


# -- forgetting: in whichever process logs the user out or saves the user -----

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client


@receiver(user_logged_out)
def forget_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _forget(_entry(session_key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def forget_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    key = rediskeys.sessions_of_user(instance.pk)
    try:
        entries = _redis().smembers(key)
    except redis.RedisError:
        logger.warning("could not reach Redis to forget the sockets' copy of user %s", instance.pk)
        return
    _forget(key, *entries)


def _forget(*keys: str | bytes) -> None:
    try:
        _redis().delete(*keys)
    except redis.RedisError:
        # The entry stays until the session would have expired: say so.
        logger.warning("could not reach Redis to forget %d cached agent identities", len(keys))

