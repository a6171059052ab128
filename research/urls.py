from django.urls import path

from research import views

urlpatterns = [
    path("research/", views.study_list, name="research_studies"),
    path("research/<slug:slug>/", views.study_results, name="research_results"),
    path("research/<slug:slug>/compute", views.study_compute, name="research_compute"),
    path(
        "research/<slug:slug>/diagnostics/compute",
        views.study_diagnostics_compute,
        name="research_diagnostics_compute",
    ),
    path(
        "research/<slug:slug>/faithfulness.csv",
        views.faithfulness_csv,
        name="research_faithfulness_csv",
    ),
    path(
        "research/<slug:slug>/randomisation.csv",
        views.randomisation_csv,
        name="research_randomisation_csv",
    ),
    path(
        "research/<slug:slug>/jobs/<int:job_id>/retry",
        views.compute_job_retry_failed,
        name="research_job_retry",
    ),
    path(
        "research/<slug:slug>/jobs/<int:job_id>/cancel",
        views.compute_job_cancel_pending,
        name="research_job_cancel",
    ),
    path("research/<slug:slug>/review/", views.study_review, name="research_review"),
    path(
        "research/<slug:slug>/participants/<int:participant_id>/review",
        views.participant_review_action,
        name="research_participant_review",
    ),
    path(
        "research/annotations/<int:annotation_id>.png",
        views.annotation_png,
        name="research_annotation_png",
    ),
    path("research/<slug:slug>/agreement.csv", views.agreement_csv, name="research_agreement_csv"),
    path("research/<slug:slug>/images.csv", views.images_csv, name="research_images_csv"),
    path(
        "research/<slug:slug>/participants.csv",
        views.participants_csv,
        name="research_participants_csv",
    ),
    path("research/<slug:slug>/watermark.csv", views.watermark_csv, name="research_watermark_csv"),
    path("research/<slug:slug>/export.zip", views.study_zip, name="research_zip"),
    path("research/<slug:slug>/dataset.zip", views.study_dataset_zip, name="research_dataset_zip"),
    path(
        "research/<slug:slug>/images/<int:image_id>/human.png",
        views.human_mean_png,
        name="research_human_png",
    ),
    path(
        "research/<slug:slug>/images/<int:image_id>/human-top<int:percent>.png",
        views.human_region_png,
        name="research_human_region_png",
    ),
    path(
        "research/<slug:slug>/images/<int:image_id>/",
        views.study_image_detail,
        name="research_image_detail",
    ),
    path(
        "research/<slug:slug>/images/<int:image_id>/figure.<str:fmt>",
        views.study_image_figure,
        name="research_image_figure",
    ),
    path("research/<slug:slug>/charts/<slug:chart>.<str:fmt>", views.study_chart, name="research_chart"),
    path("research/maps/<int:map_id>.png", views.saliency_map_png, name="research_map_png"),
    path(
        "research/maps/<int:map_id>/top<int:percent>.png",
        views.saliency_map_region_png,
        name="research_map_region_png",
    ),
    path("research/images/<int:image_id>.jpg", views.image_thumbnail, name="research_image"),
]
