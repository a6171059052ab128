from django.urls import path

from annotations import views

urlpatterns = [
    path("worked-example.png", views.worked_example, name="worked_example"),
    path("p/<str:code>/trials/<int:trial_id>/annotation", views.trial_submit, name="trial_submit"),
]
