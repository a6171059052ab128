from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    """Image sets and their images: import, thumbnails, regions, corrupted variants."""

    name = "catalogue"
    default_auto_field = "django.db.models.BigAutoField"
