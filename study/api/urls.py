from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from study.api import views

app_name = "api"

urlpatterns = [
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
    path("studies/<slug:slug>/export.zip", views.StudyExportView.as_view(), name="export-zip"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
