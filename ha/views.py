import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .runtime import current
from .topology import topology


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


async def topology_view(request: HttpRequest) -> HttpResponse:
    instance = current()
    if instance is None:
        return JsonResponse({"error": "not a chat server instance"}, status=503)
    response = JsonResponse(topology(instance))
    # The pages read it from the other member of the pair too.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
async def stall(request: HttpRequest) -> HttpResponse:
    """Test hook (CHAT_TEST_HOOKS only): block the event loop for ``seconds``, as a
    long synchronous call or a stuck loop would."""
    seconds = float(request.GET.get("seconds", "1"))
    time.sleep(seconds)  # on purpose: the loop is what is being stalled
    return HttpResponse(f"stalled the event loop for {seconds} s\n", content_type="text/plain")
