"""Failed logins, counted in Redis so that both members of a pair share the count
(issue 9): password guessing meets a wall, whichever member it knocks on.

After ``LOGIN_FAILURES_ALLOWED`` failed logins for one username, or from one
client address, each within ``LOGIN_FAILURE_WINDOW_SECONDS`` of the one before,
every further try for that username or from that address is refused, the right
password included, until that many seconds have passed since the last failure
(a count is forgotten after a window with no failure: one Redis key with a TTL).
A refused try is not counted, and a successful login clears its username's
count (not its address's: one good account must not reset the guessing of
others).

Addresses in ``CHAT_TRUSTED_ADDRESSES`` (the machine itself, a front door that
speaks for many people) are not counted, as for the socket limits (chat.limits);
their usernames still are. Redis out of reach lets logins through (logged): the
throttle must not lock everyone out when the store is away.

The check sits in the login form (``ThrottledLogin``), so that the agents' login
page (chat.views.LoginView) and the admin's both go through it.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from typing import Any

import redis
from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from chatsite import rediskeys

from .identity import redis_client

logger = logging.getLogger(__name__)

THROTTLED = "throttled"  # the form error's code


def client_address(request: HttpRequest | None) -> str | None:
    """The address counted for ``request``; None when it is not counted."""
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    trusted = getattr(settings, "CHAT_TRUSTED_ADDRESSES", ())
    if any(ip in ipaddress.ip_network(network, strict=False) for network in trusted):
        return None
    return address


def _keys(username: str, address: str | None) -> list[str]:
    # Hashes: key names carry neither a login name nor an address.
    keys = [rediskeys.login_failures("user", hashlib.sha256(username.casefold().encode()).hexdigest())]
    if address is not None:
        keys.append(rediskeys.login_failures("address", hashlib.sha256(address.encode()).hexdigest()))
    return keys


def refused_for(username: str, address: str | None) -> int | None:
    """Seconds until a try for ``username`` from ``address`` is taken again; None
    when it is taken now."""
    keys = _keys(username, address)
    try:
        pipe = redis_client().pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        answers = pipe.execute()
    except redis.RedisError:
        logger.warning("could not reach Redis to check the failed logins of a login attempt; letting it through")
        return None
    waits = [
        max(ttl, 1) for count, ttl in zip(answers[::2], answers[1::2], strict=True)
        if count is not None and int(count) >= settings.LOGIN_FAILURES_ALLOWED
    ]
    return max(waits) if waits else None


def failed(username: str, address: str | None) -> None:
    """Count a failed login for ``username`` and ``address``."""
    window_s = settings.LOGIN_FAILURE_WINDOW_SECONDS
    keys = _keys(username, address)
    try:
        pipe = redis_client().pipeline(transaction=True)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window_s)  # forgotten after a whole window with no failure
        pipe.execute()
    except redis.RedisError:
        logger.warning("could not reach Redis to count a failed login")


def succeeded(username: str) -> None:
    """A login worked: its username starts afresh."""
    try:
        redis_client().delete(_keys(username, None)[0])
    except redis.RedisError:
        logger.warning("could not reach Redis to clear the failed logins of a user who logged in")


def clear(username: str, address: str | None) -> None:
    """Forget the counts of ``username`` and ``address``: an operator's unlock
    (docs/operations.md)."""
    redis_client().delete(*_keys(username, address))


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} seconds" if seconds != 1 else "1 second"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes" if minutes != 1 else "1 minute"


class ThrottledLogin:
    """A mixin for Django's login forms: refuse a throttled try before checking the
    password, count a wrong password, clear the count of a login that worked."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    retry_after_s: int | None = None  # set on a refused try: how long to wait

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        wait = refused_for(username, address)
        if wait is not None:
            self.retry_after_s = wait
            raise forms.ValidationError(
                "Too many failed logins for this account or from this address. Try again in %(wait)s.",
                code=THROTTLED, params={"wait": wait_text(wait)},
            )
        try:
            cleaned = super().clean()  # type: ignore[misc]
        except forms.ValidationError as error:
            # A wrong password, not a right one the form turns away (the admin's
            # for a user who is not staff): that user_cache is set.
            if error.code == "invalid_login" and getattr(self, "user_cache", None) is None:
                failed(username, address)
            raise
        succeeded(username)
        return cleaned


class ThrottledAuthenticationForm(ThrottledLogin, AuthenticationForm):
    """The agents' login form."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password didn't match. Please try again.",
    }


class ThrottledAdminAuthenticationForm(ThrottledLogin, AdminAuthenticationForm):
    """The admin's login form: the same count, so that it is no way around it."""
