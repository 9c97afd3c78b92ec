from django.urls import path

from . import views

urlpatterns = [
    path("api/transcripts/<slug:session_id>.json", views.transcript_json, name="transcript-json"),
    path("api/transcripts/<slug:session_id>.txt", views.transcript_text, name="transcript-text"),
    path("api/chat/offline-message", views.offline_message, name="offline-message"),
]
