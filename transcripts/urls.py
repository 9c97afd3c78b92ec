from django.urls import path

from . import views

urlpatterns = [
    path("api/transcripts/<slug:session_id>.json", views.transcript_json, name="transcript-json"),
    path("api/transcripts/<slug:session_id>.txt", views.transcript_text, name="transcript-text"),
    path("api/chat/offline-message", views.offline_message, name="offline-message"),
    path("api/chat/offline-messages", views.offline_messages, name="offline-messages"),
    path("api/chat/offline-messages/<slug:message_id>/take", views.offline_message_move, {"what": "take"},
         name="offline-message-take"),
    path("api/chat/offline-messages/<slug:message_id>/answer", views.offline_message_move, {"what": "answer"},
         name="offline-message-answer"),
]
