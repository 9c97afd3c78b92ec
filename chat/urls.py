from django.urls import path

from . import views

urlpatterns = [
    path("", views.customer_page, name="customer"),
    path("agent/", views.agent_page, name="agent"),
    path("supervisor/", views.supervisor_page, name="supervisor"),
    path("api/chat/availability", views.availability_view, name="availability"),
]
