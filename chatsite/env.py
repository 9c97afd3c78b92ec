"""Tiny helpers that read settings from the environment and fail loudly."""
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envstr(name: str, default: str) -> str:
    return os.environ.get(name) or default


# The key a checkout falls back to when neither SECRET_KEY nor the key file of
# `make run` gives one. Anyone can read it here, so anyone could forge a session
# cookie: a server with DEBUG off refuses to start with it (ha.checks, issue 9).
DEV_SECRET_KEY = "insecure-dev-key-set-SECRET_KEY-in-production"


def secret_key(key_file: Path) -> str:
    """SECRET_KEY from the environment, else the key ``make run`` keeps in
    ``key_file`` (so a process started by hand joins its stack), else DEV_SECRET_KEY."""
    value = os.environ.get("SECRET_KEY")
    if value:
        return value
    try:
        return key_file.read_text().strip() or DEV_SECRET_KEY
    except FileNotFoundError:
        return DEV_SECRET_KEY


def make_secret_key(key_file: Path) -> str:
    """The key in ``key_file``, made (random, readable by its owner only) the first
    time. It is written aside and linked into place, so a process that races this
    one reads a whole key or none."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        draft = key_file.with_name(f".{key_file.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(draft, key_file)
        except FileExistsError:
            pass  # another process made it first: use that one
        finally:
            draft.unlink()
    key = key_file.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{key_file} is empty: delete it to have a new key made")
    return key


def envlist(name: str, default: str = "") -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]
