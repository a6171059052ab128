from django.urls import path

from annotations import views

urlpatterns = [
    path("worked-example.png", views.worked_example, name="worked_example"),
    path("worked-example.webp", views.worked_example, {"extension": "webp"}, name="worked_example_webp"),
    path("p/<str:code>/trials/<int:trial_id>/annotation", views.trial_submit, name="trial_submit"),
]
