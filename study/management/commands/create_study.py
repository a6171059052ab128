from django.core.management.base import BaseCommand, CommandError

from catalogue.models import ImageSet
from explain.models import ModelSpec
from study.presets import PRESETS, PresetError, study_from_template
from study.services import study_maps_compute


def _names(text: str) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


class Command(BaseCommand):
    help = "Create a ready-made study: compare_models, corruptions, cue_conflict or biased_model."

    def add_arguments(self, parser):
        parser.add_argument("--template", required=True, choices=list(PRESETS))
        parser.add_argument("--set", dest="image_set", help="image set name (not needed for biased_model)")
        parser.add_argument("--models", default="", help="comma-separated model names")
        parser.add_argument("--slug", default="")
        parser.add_argument("--title", default="")
        parser.add_argument(
            "--methods", default="", help="comma-separated; default xrai,integrated_gradients"
        )
        parser.add_argument("--corruptions", default="", help="corruptions template: comma-separated names")
        parser.add_argument("--severities", default="", help="corruptions template: e.g. 1,3,5")
        parser.add_argument("--compute", action="store_true", help="queue the model maps now")

    def handle(self, *args, **options):
        image_set = None
        if options["image_set"]:
            image_set = ImageSet.objects.filter(name=options["image_set"]).first()
            if image_set is None:
                raise CommandError(f"no image set named {options['image_set']!r}")
        models = []
        for name in _names(options["models"]):
            model = ModelSpec.objects.filter(name=name).first()
            if model is None:
                known = ", ".join(ModelSpec.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"no model named {name!r} (known: {known})")
            models.append(model)
        try:
            severities = [int(level) for level in _names(options["severities"])]
        except ValueError:
            raise CommandError(f"--severities {options['severities']!r}: give integers 1-5") from None
        try:
            study = study_from_template(
                template=options["template"],
                image_set=image_set,
                models=models,
                slug=options["slug"],
                title=options["title"],
                methods=_names(options["methods"]),
                corruptions=_names(options["corruptions"]),
                severities=severities,
            )
        except (PresetError, ValueError) as error:
            raise CommandError(str(error)) from None
        models = ", ".join(study.model_specs.values_list("name", flat=True))
        self.stdout.write(
            f"created study {study.slug} ({study.get_template_display()}): "
            f"{study.image_set.images.count()} images, models {models}, methods {', '.join(study.methods)}"
        )
        self.stdout.write(f"participant link: /s/{study.slug}/   results: /research/{study.slug}/")
        if options["compute"]:
            job = study_maps_compute(study=study)
            self.stdout.write(f"queued compute job {job.pk}: {job.total} image x model units")
