from django.conf import settings
from django.urls import path

from . import views

urlpatterns = [
    # /healthz, /readyz and /api/ha/topology are answered before Django (ha.probes).
    path("metrics", views.metrics_view, name="metrics"),
]

if settings.CHAT_TEST_HOOKS:
    urlpatterns.append(path("_test/stall", views.stall, name="test-stall"))
