"""A real Celery worker beside the chat server, and ways to read what it saved."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from transcripts.models import Transcript

from ..conftest import REDIS_PREFIX
from ..harness import ARTIFACTS, ROOT, child_env, wait_for


@dataclass
class WorkerProcess:
    """One ``celery -A chatsite worker`` child process, in a process group of its own."""

    env: dict[str, str]
    log_path: Path
    concurrency: int
    process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "chatsite", "worker", "--loglevel", "INFO",
                 "--concurrency", str(self.concurrency), "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(lambda: self._alive() and " ready." in self.log(), 30, "the celery worker to be ready")
        return self

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")
        return True

    def kill(self) -> None:
        """Kill it and its pool at once: a warm shutdown would hand its pending
        retries back to the queue, where the next test's worker would find them."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def start_worker(redis_url: str, transactional_db, request) -> Iterator[Callable[..., WorkerProcess]]:
    """Start a worker with extra environment (a faulty store); killed after the test."""
    started: list[WorkerProcess] = []

    def start(concurrency: int = 2, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            {**child_env(redis_url, REDIS_PREFIX), **env},
            ARTIFACTS / "logs" / f"{request.node.name}-worker-{len(started)}.log",
            concurrency,
        )
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def worker(start_worker) -> WorkerProcess:
    """A worker that saves to the real store."""
    return start_worker()


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


@pytest.fixture
def server_options(request) -> dict[str, str]:
    """The chat server's option values: the test's ``options`` mark, or a parametrization."""
    mark = request.node.get_closest_marker("options")
    return mark.kwargs if mark else {}


@pytest.fixture
def server(make_application, start_server, server_options):
    return start_server(make_application(**server_options))


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
