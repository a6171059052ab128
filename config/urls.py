from django.conf import settings
from django.contrib import admin
from django.http import FileResponse
from django.shortcuts import redirect
from django.urls import include, path

from config import health
from config.security import client_ip, rate_limited

# Admin logins: limited per client IP against password guessing.
admin_login = rate_limited(
    "login", key=lambda request, **kwargs: client_ip(request), limit_setting="RATE_LIMIT_LOGINS_PER_MINUTE"
)(admin.site.login)


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page links (templates/base.html links the SVG)."""
    response = FileResponse(
        open(settings.BASE_DIR / "static" / "favicon.ico", "rb"), content_type="image/x-icon"
    )
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [
    path("favicon.ico", favicon),
    path("", lambda request: redirect("research_studies")),
    path("healthz", health.web_health, name="health_web"),
    path("healthz/worker", health.worker_health, name="health_worker"),
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("api/", include("research.api.urls")),
    path("", include("study.urls")),
    path("", include("annotations.urls")),
    path("", include("research.urls")),
]
