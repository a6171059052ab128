from django.urls import path

from study import research_views, views

urlpatterns = [
    path("s/<slug:slug>/", views.study_entry, name="study_entry"),
    path("s/<slug:slug>/consent", views.study_consent, name="study_consent"),
    path("p/<str:code>/", views.participant_home, name="participant_home"),
    path("p/<str:code>/instructions", views.participant_instructions, name="participant_instructions"),
    path("worked-example.png", views.worked_example, name="worked_example"),
    path("p/<str:code>/trials/<int:trial_id>/image", views.trial_image, name="trial_image"),
    path("p/<str:code>/trials/<int:trial_id>/annotation", views.trial_submit, name="trial_submit"),
    path("p/<str:code>/done", views.participant_finish, name="participant_finish"),
    path("research/", research_views.study_list, name="research_studies"),
    path("research/<slug:slug>/", research_views.study_results, name="research_results"),
    path("research/<slug:slug>/compute", research_views.study_compute, name="research_compute"),
    path(
        "research/<slug:slug>/jobs/<int:job_id>/retry",
        research_views.compute_job_retry_failed,
        name="research_job_retry",
    ),
    path(
        "research/<slug:slug>/jobs/<int:job_id>/cancel",
        research_views.compute_job_cancel_pending,
        name="research_job_cancel",
    ),
    path("research/<slug:slug>/review/", research_views.study_review, name="research_review"),
    path(
        "research/<slug:slug>/participants/<int:participant_id>/review",
        research_views.participant_review_action,
        name="research_participant_review",
    ),
    path(
        "research/annotations/<int:annotation_id>.png",
        research_views.annotation_png,
        name="research_annotation_png",
    ),
    path("research/<slug:slug>/agreement.csv", research_views.agreement_csv, name="research_agreement_csv"),
    path("research/<slug:slug>/images.csv", research_views.images_csv, name="research_images_csv"),
    path(
        "research/<slug:slug>/participants.csv",
        research_views.participants_csv,
        name="research_participants_csv",
    ),
    path("research/<slug:slug>/watermark.csv", research_views.watermark_csv, name="research_watermark_csv"),
    path("research/<slug:slug>/export.zip", research_views.study_zip, name="research_zip"),
    path(
        "research/<slug:slug>/images/<int:image_id>/human.png",
        research_views.human_mean_png,
        name="research_human_png",
    ),
    path(
        "research/<slug:slug>/images/<int:image_id>/human-top<int:percent>.png",
        research_views.human_region_png,
        name="research_human_region_png",
    ),
    path("research/maps/<int:map_id>.png", research_views.saliency_map_png, name="research_map_png"),
    path(
        "research/maps/<int:map_id>/top<int:percent>.png",
        research_views.saliency_map_region_png,
        name="research_map_region_png",
    ),
    path("research/images/<int:image_id>.jpg", research_views.image_thumbnail, name="research_image"),
]
