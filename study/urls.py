from django.urls import path

from study import views

urlpatterns = [
    path("s/<slug:slug>/", views.study_entry, name="study_entry"),
    path("s/<slug:slug>/consent", views.study_consent, name="study_consent"),
    path("p/<str:code>/", views.participant_home, name="participant_home"),
    path("p/<str:code>/instructions", views.participant_instructions, name="participant_instructions"),
    path("p/<str:code>/trials/<int:trial_id>/image", views.trial_image, name="trial_image"),
    path(
        "p/<str:code>/trials/<int:trial_id>/image/<str:name>",
        views.trial_image_rendition,
        name="trial_image_rendition",
    ),
    path("p/<str:code>/done", views.participant_finish, name="participant_finish"),
]
