from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config.security import with_content_security_policy
from research.api import views

app_name = "api"

urlpatterns = [
    path("", views.ApiIndexView.as_view(), name="index"),
    path("studies/", views.StudyListView.as_view(), name="studies"),
    path("studies/<slug:slug>/", views.StudyDetailView.as_view(), name="study"),
    path("studies/<slug:slug>/images/", views.StudyImagesView.as_view(), name="images"),
    path(
        "studies/<slug:slug>/images/<int:image_id>/human-mean.npy",
        views.HumanMeanMapView.as_view(),
        name="human-mean",
    ),
    path("studies/<slug:slug>/agreement/", views.AgreementView.as_view(), name="agreement"),
    path("studies/<slug:slug>/image-stats/", views.ImageStatsView.as_view(), name="image-stats"),
    path("studies/<slug:slug>/participants/", views.ParticipantTrialsView.as_view(), name="participants"),
    path("studies/<slug:slug>/maps/", views.ModelMapListView.as_view(), name="maps"),
    path("studies/<slug:slug>/maps/<int:map_id>.npy", views.ModelMapView.as_view(), name="map-npy"),
    path("studies/<slug:slug>/diagnostics/", views.DiagnosticsView.as_view(), name="diagnostics"),
    path("studies/<slug:slug>/export.zip", views.StudyExportView.as_view(), name="export-zip"),
    path("studies/<slug:slug>/dataset.zip", views.StudyDatasetView.as_view(), name="dataset-zip"),
    path(
        "studies/<slug:slug>/participant-maps/",
        views.ParticipantMapListView.as_view(),
        name="participant-maps",
    ),
    path(
        "studies/<slug:slug>/participant-maps/<int:annotation_id>/",
        views.ParticipantMapView.as_view(),
        name="participant-map",
    ),
    path(
        "studies/<slug:slug>/participant-maps/<int:annotation_id>.png",
        views.ParticipantMapPngView.as_view(),
        name="participant-map-png",
    ),
    path(
        "studies/<slug:slug>/participant-maps/<int:annotation_id>.npy",
        views.ParticipantMapNpyView.as_view(),
        name="participant-map-npy",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its script from a URL, so Swagger UI works under the site's CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # Redoc's page starts it with an inline script and runs a worker from a blob.
    path(
        "redoc/",
        with_content_security_policy(
            "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "object-src 'none'; frame-ancestors 'none'"
        )(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
]
