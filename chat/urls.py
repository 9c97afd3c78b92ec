from django.urls import path

from . import views

urlpatterns = [
    path("", views.customer_page, name="customer"),
    path("agent/", views.agent_page, name="agent"),
    path("supervisor/", views.supervisor_page, name="supervisor"),
    path("api/chat/wait", views.wait_view, name="chat-wait"),
]
