from django.core.management.base import BaseCommand
from django.db import transaction

from catalogue.demo_data import (
    ATTENTION_BOX,
    ATTENTION_IMAGE,
    DEMO_IMAGES,
    DEMO_SLUG,
    PRACTICE_IMAGE,
    attention_image_png,
    demo_image_path,
)
from catalogue.models import ImageSet
from catalogue.services import image_create, image_set_target_box
from explain.services import offline_models_ensure
from study.models import Study


class Command(BaseCommand):
    help = "Create (or refresh) the ready-to-run demo study from images that ship offline."

    def add_arguments(self, parser):
        parser.add_argument("--trials", type=int, default=3, help="images per participant (default 3)")

    @transaction.atomic
    def handle(self, *args, trials: int, **options):
        image_set, _ = ImageSet.objects.get_or_create(
            name="demo images", defaults={"description": "scikit-image and matplotlib sample images"}
        )
        for name, source, class_index, class_name, _box in DEMO_IMAGES:
            path = demo_image_path(source)
            image = image_create(
                image_set=image_set,
                name=name,
                content=path.read_bytes(),
                filename=path.name,
                class_index=class_index,
                class_name=class_name,
            )
            if image.is_practice != (name == PRACTICE_IMAGE):
                image.is_practice = name == PRACTICE_IMAGE
                image.save(update_fields=["is_practice"])
        # An attention check with an exactly known target region.
        check = image_create(
            image_set=image_set,
            name=ATTENTION_IMAGE,
            content=attention_image_png(),
            filename="red_circle.png",
            class_name="red circle",
        )
        if not check.is_attention_check:
            check.is_attention_check = True
            check.save(update_fields=["is_attention_check"])
            image_set_target_box(image=check, box=ATTENTION_BOX)
        # Three real ImageNet models that ship as Python packages: a comparison with no network.
        models = offline_models_ensure()
        study, created = Study.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={
                "title": "Where do you see it? (demo)",
                "image_set": image_set,
                "trials_per_participant": trials,
                "target_annotations_per_image": 5,
                "practice_trials": 1,
                "attention_checks": 1,
                "methods": ["integrated_gradients", "xrai"],
                "template": Study.Template.COMPARE_MODELS,
            },
        )
        study.model_specs.add(*models)
        verb = "Created" if created else "Found"
        names = ", ".join(study.model_specs.order_by("name").values_list("name", flat=True))
        self.stdout.write(
            f"{verb} study '{study.slug}' with {image_set.images.count()} images and models {names}"
        )
