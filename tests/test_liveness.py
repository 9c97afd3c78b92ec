"""The serving loop's signs of life (ha.liveness): a thread that works is seen
working, one blocked in a call is not."""
import threading
import time

from ha.liveness import LoopLife
from tests.harness import wait_for


def watched_thread(life: LoopLife, body) -> tuple[threading.Thread, threading.Event]:
    attached, stop = threading.Event(), threading.Event()

    def run() -> None:
        life.attach()
        attached.set()
        body(stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    attached.wait(5)
    return thread, stop


def test_a_thread_that_works_is_seen_working():
    start = time.monotonic()
    life = LoopLife(start)

    def spin(stop: threading.Event) -> None:
        while not stop.is_set():
            pass

    thread, stop = watched_thread(life, spin)
    try:
        wait_for(lambda: life.look(time.monotonic()) > start, 10, "the spinning thread seen working")
        assert life.ticked_at == start  # working is not ticking
    finally:
        stop.set()
        thread.join(5)


def test_a_thread_blocked_in_a_call_is_not_seen_working():
    start = time.monotonic()
    life = LoopLife(start)
    thread, stop = watched_thread(life, lambda stop: stop.wait())
    try:
        looked = time.monotonic()
        seen = life.look(looked)  # from here on the thread only waits
        # A look "ten seconds later" (look takes the time it is told): the thread
        # spent none of them on the CPU.
        assert life.look(looked + 10) == seen
    finally:
        stop.set()
        thread.join(5)
