from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path

from config import health

urlpatterns = [
    path("", lambda request: redirect("research_studies")),
    path("healthz", health.web_health, name="health_web"),
    path("healthz/worker", health.worker_health, name="health_worker"),
    path("admin/", admin.site.urls),
    path("api/", include("study.api.urls")),
    path("", include("study.urls")),
]
