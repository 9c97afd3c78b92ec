import asyncio
import logging
import time

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from chatsite import metrics

from .runtime import current

logger = logging.getLogger(__name__)


# Async: it runs on the event loop, not in the one thread that Django's sync views
# and ORM calls share.
async def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics of this instance (chatsite.metrics). The transcript figures
    are read from Redis first, with the async client and a short wait: a Redis that
    does not answer leaves them as they were and is logged, never blocks the loop."""
    instance = current()
    if instance is not None:
        try:
            await asyncio.wait_for(metrics.read_owed_transcripts(instance.redis, instance.pair), 1.0)
        except Exception as error:
            logger.warning("metrics: the transcripts owed could not be read from Redis (%r)", error)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


@csrf_exempt
async def stall(request: HttpRequest) -> HttpResponse:
    """Test hook (CHAT_TEST_HOOKS only): block the event loop for ``seconds``, as a
    long synchronous call or a stuck loop would; with ``busy=1``, keep it working
    on one long turn instead, as a reconnect storm on a slow machine does."""
    seconds = float(request.GET.get("seconds", "1"))
    busy = request.GET.get("busy") == "1"
    until = time.monotonic() + seconds
    if busy:
        while time.monotonic() < until:  # on purpose: one turn of the loop that works
            pass
    else:
        time.sleep(seconds)  # on purpose: the loop is what is being stalled
    how = "kept the event loop busy" if busy else "stalled the event loop"
    return HttpResponse(f"{how} for {seconds} s\n", content_type="text/plain")
