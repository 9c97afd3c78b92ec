"""A real Celery worker beside the chat server, and ways to read what it saved."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from transcripts.models import Transcript

from ..harness import wait_for


@pytest.fixture
def faulty_store(tmp_path: Path, start_worker) -> Callable[..., Path]:
    """Start a one-process worker whose store fails ``fails`` times with ``error``;
    the path of the log of its store's write attempts."""

    def start(fails: int, error: str = "unavailable") -> Path:
        log = tmp_path / "store-attempts.jsonl"
        start_worker(
            concurrency=1,
            TRANSCRIPT_STORE="tests.transcripts.faulty.FaultyStore",
            FAULTY_STORE_LOG=str(log),
            FAULTY_STORE_FAILS=str(fails),
            FAULTY_STORE_ERROR=error,
        )
        return log

    return start


def saved(session_id: str) -> Transcript | None:
    return Transcript.objects.filter(session_id=session_id).first()


def wait_saved(session_id: str, *, upto: int = 1, ended: bool = False, timeout: float = 10) -> Transcript:
    """Wait until the store holds session ``session_id`` up to seq ``upto`` (and its end)."""

    def done() -> Transcript | None:
        transcript = saved(session_id)
        if transcript and transcript.saved_seq >= upto and (transcript.ended_at or not ended):
            return transcript
        return None

    return wait_for(done, timeout, f"session {session_id} saved up to seq {upto}" + (" and ended" if ended else ""),
                    interval=0.05)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "options(**values): option values of the test's chat server")
    config.addinivalue_line("markers", "server_env(**values): extra environment of the test's chat server")


@pytest.fixture
def server_options(request) -> dict[str, str]:
    """The chat server's option values: the test's ``options`` mark, or a parametrization."""
    mark = request.node.get_closest_marker("options")
    return mark.kwargs if mark else {}


@pytest.fixture
def server_env(request) -> dict[str, str]:
    """Extra environment of the chat server: the test's ``server_env`` mark (test hooks)."""
    mark = request.node.get_closest_marker("server_env")
    return mark.kwargs if mark else {}


@pytest.fixture
def server(make_application, start_server, server_options, server_env):
    return start_server(make_application(**server_options), **server_env)


@pytest.fixture
def chat(customer, agent) -> Callable[[], tuple]:
    """Carol the customer chatting with alice the agent: (carol, alice, session_id)."""

    def open_chat() -> tuple:
        alice = agent("alice")
        carol = customer("Carol", subject="a refund")
        session_id = carol.started["session_id"]
        alice.until(type="assigned", session_id=session_id)
        carol.until(type="joined", role="agent")
        return carol, alice, session_id

    return open_chat
