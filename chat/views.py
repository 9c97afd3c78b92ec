from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def customer_page(request: HttpRequest) -> HttpResponse:
    """The Chat HA web sample: a customer's chat page."""
    return render(request, "chat/customer.html")


@login_required
def agent_page(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/agent.html")
