import asyncio
import logging
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from chatsite import metrics
from chatsite.origins import allowed as allowed_origins

from .runtime import current
from .topology import topology

logger = logging.getLogger(__name__)


# Async views with no database access: they run on the event loop, not in the one
# thread that Django's sync views and ORM calls share, so a reconnect storm's
# pages and a load balancer's checks never queue behind a query.
async def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


async def readyz(request: HttpRequest) -> HttpResponse:
    """200 only on the serving primary, so a load balancer routes to it alone."""
    instance = current()
    if instance is not None and instance.serving:
        return HttpResponse(f"primary {instance.name} epoch {instance.epoch}\n", content_type="text/plain")
    role = instance.role if instance else "no instance"
    return HttpResponse(f"not serving ({role})\n", status=503, content_type="text/plain")


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


async def topology_view(request: HttpRequest) -> HttpResponse:
    instance = current()
    if instance is None:
        return JsonResponse({"error": "not a chat server instance"}, status=503)
    response = JsonResponse(topology(instance))
    # The pages read it from the other member of the pair too: that member's page
    # may, and only our own pages may (no "*": issue 9).
    origin = request.headers.get("Origin")
    if allowed_origins.allows(origin):
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ["Origin"])
    response["Cache-Control"] = "no-store"
    return response


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
