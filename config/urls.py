from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path

urlpatterns = [
    path("", lambda request: redirect("research_studies")),
    path("admin/", admin.site.urls),
    path("api/", include("study.api.urls")),
    path("", include("study.urls")),
]
