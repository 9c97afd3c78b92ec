"""Settings, read from the environment (see docs/operations.md)."""
import os
from pathlib import Path

import dj_database_url

from .env import envbool, envint, envlist, envstr, secret_key
from .redisconf import RedisConfig

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# SECRET_KEY, else the key `make run` made in var/secret_key, else a fallback that
# only DEBUG accepts (ha.checks): see docs/operations.md.
SECRET_KEY_FILE = VAR_DIR / "secret_key"
SECRET_KEY = secret_key(SECRET_KEY_FILE)
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envstr("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
# Pages that may open the websockets and read /api/ha/topology besides the pair's
# own (chatsite.origins): full origins, e.g. https://chat.example.com (a front door).
CHAT_ALLOWED_ORIGINS = envlist("CHAT_ALLOWED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ha",
    "chat",
    "transcripts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL in production and CI; an SQLite file is the embedded default.
DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=600
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # Several processes (two servers, a worker) share the file: WAL lets readers
    # run beside a writer, IMMEDIATE avoids "database is locked" on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # a file: servers under test share it

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's four: a password like the username, shorter than 8, common or all digits
# is refused (createagent, the admin, a password change).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in ("UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                 "NumericPasswordValidator")
]
# Failed logins (chat.login_throttle): after LOGIN_FAILURES_ALLOWED for one username
# or from one client address, each within LOGIN_FAILURE_WINDOW_SECONDS of the one
# before, that username or address is refused until a window has passed since the
# last failure (docs/operations.md).
LOGIN_FAILURES_ALLOWED = envint("LOGIN_FAILURES_ALLOWED", 5)
LOGIN_FAILURE_WINDOW_SECONDS = envint("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/agent/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Redis: channel layer, HA lease, live session log, Celery broker. Every key
# this project writes starts with REDIS_PREFIX, so a test run (or a second
# stack) can share a Redis server with a live one. With REDIS_SENTINELS and
# REDIS_SENTINEL_MASTER set, every user finds the master through the sentinels
# and REDIS_URL is not used (chatsite.redisconf makes every connection; issue 11).
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_SENTINELS = envstr("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = envstr("REDIS_SENTINEL_MASTER", "")
REDIS_DB = envint("REDIS_DB", 0)
REDIS_PREFIX = envstr("REDIS_PREFIX", "chatha")
# An event is sent (and so acknowledged to its sender) only once this many replicas
# hold it too (WAIT), for at most REDIS_ACK_WAIT_MS: a Redis master killed after
# that loses nothing acknowledged. 1 under Sentinel, 0 (no wait) with one Redis.
REDIS_ACK_REPLICAS = envint("REDIS_ACK_REPLICAS", 1 if REDIS_SENTINELS else 0)
REDIS_ACK_WAIT_MS = envint("REDIS_ACK_WAIT_MS", 500)
_redis = RedisConfig.from_values(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_DB)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels_redis blocks 5 s in each receive; redis-py's own 5 s socket
        # timeout would race it and fail idle receives, hence the longer one.
        "CONFIG": {"hosts": [_redis.channel_layer_host(socket_timeout=10)], "prefix": f"{REDIS_PREFIX}:asgi"},
    }
}

CELERY_BROKER_URL = _redis.celery_url()
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_PREFIX}:celery:", **_redis.celery_transport_options()}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The transcript store the save task writes to, by dotted path (transcripts.store);
# tests put a store that fails on purpose here, in the worker's environment only.
TRANSCRIPT_STORE = envstr("TRANSCRIPT_STORE", "transcripts.store.DatabaseStore")

# How often a running instance re-reads its options from the database.
OPTIONS_POLL_SECONDS = envint("OPTIONS_POLL_MS", 1000) / 1000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        # /readyz answers 503 on a backup by design: not an error to log.
        "not_503": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: getattr(record, "status_code", None) != 503,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["not_503"]},
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

BENCH_BASELINE = envbool("BENCH_BASELINE", False)
# Test hooks (ha.views.stall): never on in production; the process tests turn it
# on to stall a real server's event loop.
CHAT_TEST_HOOKS = envbool("CHAT_TEST_HOOKS", False)
# Client addresses the per-address limits (chat.limits) do not count, comma-separated
# addresses or networks: the machine itself and a front door speak for many customers.
CHAT_TRUSTED_ADDRESSES = [
    network.strip() for network in os.environ.get("CHAT_TRUSTED_ADDRESSES", "127.0.0.0/8,::1").split(",")
    if network.strip()
]  # set and empty: every address is counted
# A websocket with more than this many bytes waiting to be sent to it has stopped
# reading: it is dropped (chatsite.websocket_protocol).
CHAT_MAX_UNSENT_BYTES = envint("CHAT_MAX_UNSENT_BYTES", 4 * 1024 * 1024)
