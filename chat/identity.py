"""Who an agent socket belongs to, without a database round trip per socket.

Channels' AuthMiddlewareStack reads the Django session and the user from the
database for every handshake, on the one thread that all ORM calls share: at
a takeover, a thousand agent desktops reconnecting at once would queue behind
each other for seconds. The first socket of a login resolves the user the
Django way and leaves what the consumer needs (id, the name customers see,
active, agent or not: chat.agents) in Redis, under a hash of the session key;
every later socket of that login, on either member of the pair, reads it from
there. Either way the consumer's ``scope["user"]`` is a KnownUser.

The entry lives as long as a Django session may, and goes away when what it
was made from changes: the user logs out, the user row is saved or deleted (a
new password, a deactivation, a new name), the user's groups change. A logout
is also published (rediskeys.logouts), so that the serving instance closes the
sockets of that login (chat.logouts), whichever member served the logout.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

import redis
from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from chatsite import redisconf, rediskeys
from ha.runtime import current

from .agents import ais_agent, display_name
from .supervisors import ais_supervisor

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class KnownUser:
    """What a chat socket needs of a logged-in user (the consumer's ``scope["user"]``)."""

    pk: int
    username: str
    display_name: str
    is_active: bool
    is_agent: bool
    is_authenticated: bool = True
    is_supervisor: bool = False  # chat.supervisors

    def get_full_name(self) -> str:
        """The name customers see (chat.agents.display_name), never the login name:
        the consumer names the agent's participant with it."""
        return self.display_name

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> KnownUser | None:
        """The entry, or None for one another version wrote (then the user is read
        again the Django way, which rewrites it)."""
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) != {field.name for field in fields(cls)}:
            return None
        return cls(**data)


def login_hash(session_key: str) -> str:
    """What names a login outside Django: the session key is a bearer secret and
    stays out of Redis key names and messages."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def login_of(scope: dict[str, Any]) -> str | None:
    """The login (login_hash) a socket came in with, from its session cookie."""
    session_key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
    return login_hash(session_key) if session_key else None


def _entry(login: str) -> str:
    return rediskeys.user_of_session(login)


class CachedUserMiddleware:
    """``scope["user"]`` from the Redis entry of the session cookie; the Django way
    (session, then user, from the database) on a miss, which then fills the entry.

    Either way the consumer gets the socket's own ``send``: Channels' session
    middleware would wrap it for the socket's whole life, a coroutine more on
    every frame sent, for a session this socket never saves."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        login = login_of(scope)
        instance = current()
        known = None
        if login and instance is not None:
            raw = await instance.redis.get(_entry(login))
            known = KnownUser.from_json(raw) if raw is not None else None
        user = known if known is not None else await self._the_django_way(scope, receive)
        return await self.inner(dict(scope, user=user), receive, send)

    async def _the_django_way(self, scope: dict[str, Any], receive: Any) -> Any:
        """The session, then the user, from the database; a KnownUser kept in Redis
        for the next socket, or Django's AnonymousUser."""
        found = []

        async def remember(scope: dict[str, Any], receive: Any, send: Any) -> None:
            found.append(await self._remember(scope["user"], login_of(scope)))

        await SessionMiddleware(AuthMiddleware(remember))(scope, receive, _sends_nothing)
        return found[0]

    @staticmethod
    async def _remember(user: Any, login: str | None) -> Any:
        if not user.is_authenticated:
            return user
        known = KnownUser(
            user.pk, user.username, display_name(user.pk, user.get_full_name()), user.is_active,
            await ais_agent(user), is_supervisor=await ais_supervisor(user),
        )
        instance = current()
        if login and instance is not None:
            pipe = instance.redis.pipeline(transaction=False)
            pipe.set(_entry(login), known.to_json(), ex=settings.SESSION_COOKIE_AGE)
            pipe.sadd(rediskeys.sessions_of_user(user.pk), _entry(login))
            pipe.expire(rediskeys.sessions_of_user(user.pk), settings.SESSION_COOKIE_AGE)
            await pipe.execute()
        return known


async def _sends_nothing(message: dict[str, Any]) -> None:
    raise AssertionError(f"looking a user up sends nothing ({message.get('type')})")


def CachedAuthMiddlewareStack(inner: Any) -> CookieMiddleware:
    """AuthMiddlewareStack's twin, with the user read from Redis when it can be."""
    return CookieMiddleware(CachedUserMiddleware(inner))


# -- forgetting: in whichever process logs the user out or saves the user -----

_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    """The Django side's Redis client (views, signals, the login throttle): made on
    first use, shared by the process's threads."""
    global _client
    if _client is None:
        _client = redisconf.config().client(socket_timeout=2, socket_connect_timeout=2)
    return _client


@receiver(user_logged_out)
def forget_session(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Forget the login's entry and tell the serving instance to close its sockets."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if not session_key:
        return
    login = login_hash(session_key)
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.delete(_entry(login))
        pipe.publish(rediskeys.logouts(), login)
        pipe.execute()
    except redis.RedisError:
        # The entry stays until the session would have expired, and the sockets stay
        # open until they reconnect (the Django session is gone: they are refused then).
        logger.warning("could not reach Redis to close the agent sockets of a login of user %s",
                       getattr(user, "pk", None))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def forget_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    _forget_users([instance.pk])


@receiver(m2m_changed, sender=get_user_model().groups.through)
def forget_members(sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None,
                   **kwargs: Any) -> None:
    """A change of groups can make or unmake an agent (chat.agents)."""
    if action == "pre_clear" and reverse:
        # Group.user_set.clear() names no users afterwards: take them now.
        instance._chat_members = list(instance.user_set.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove"):
        _forget_users(sorted(pk_set or ()) if reverse else [instance.pk])
    elif action == "post_clear":
        _forget_users(getattr(instance, "_chat_members", []) if reverse else [instance.pk])


@receiver(post_save, sender=Group)
@receiver(pre_delete, sender=Group)
def forget_group(sender: Any, instance: Group, **kwargs: Any) -> None:
    """A renamed or deleted group (the agents group among them) changes its members."""
    _forget_users(list(instance.user_set.values_list("pk", flat=True)))


def _forget_users(user_pks: list[int]) -> None:
    if not user_pks:
        return
    keys = [rediskeys.sessions_of_user(pk) for pk in user_pks]
    try:
        client = redis_client()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.smembers(key)
        entries = [entry for members in pipe.execute() for entry in members]
        client.delete(*keys, *entries)
    except redis.RedisError:
        # The entries stay until the sessions would have expired: say so.
        logger.warning("could not reach Redis to forget the sockets' copy of %d users", len(user_pks))
