from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "explain"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from catalogue.class_names import register_vocabulary_source

        register_vocabulary_source(_model_class_names)


def _model_class_names() -> dict[str, list[str]]:
    from explain.models import ModelSpec

    return dict(ModelSpec.objects.order_by("name").values_list("name", "class_names"))
