from django.contrib import admin
from django.urls import include, path

from chat.login_throttle import ThrottledAdminAuthenticationForm
from chat.views import LoginView

# Failed logins are throttled on the admin's login too (chat.login_throttle).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's own: the login page with failed logins throttled.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("ha.urls")),
    path("", include("chat.urls")),
    path("", include("transcripts.urls")),
]
