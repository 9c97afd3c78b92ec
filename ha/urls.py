from django.conf import settings
from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/ha/topology", views.topology_view, name="topology"),
    path("metrics", views.metrics_view, name="metrics"),
]

if settings.CHAT_TEST_HOOKS:
    urlpatterns.append(path("_test/stall", views.stall, name="test-stall"))
