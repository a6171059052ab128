from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The researcher side, without models of its own: results, review, scores, exports,
    the JSON API. It reads every other app; nothing imports it."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"
