from django.core.management.base import BaseCommand, CommandError

from catalogue import corruptions
from catalogue.models import ImageSet
from catalogue.variants import DEFAULT_CORRUPTIONS, image_set_variants_create, parse_severities


class Command(BaseCommand):
    help = (
        "Add ImageNet-C-style corrupted copies of every main image of a set (practice and attention-check "
        "images excepted), linked to their originals; existing variants are reused. Known corruptions: "
        + ", ".join(corruptions.CORRUPTIONS)
    )

    def add_arguments(self, parser):
        parser.add_argument("--set", required=True, dest="image_set", help="image set name")
        parser.add_argument(
            "--corruptions",
            default=",".join(DEFAULT_CORRUPTIONS),
            help=f"comma-separated (default: {','.join(DEFAULT_CORRUPTIONS)})",
        )
        parser.add_argument("--severities", default="1-5", help="e.g. 1-5, 3 or 1,3,5 (default 1-5)")
        parser.add_argument("--seed", type=int, default=0, help="random seed of the noise (default 0)")

    def handle(self, *args, image_set: str, corruptions: str, severities: str, seed: int, **options):
        found = ImageSet.objects.filter(name=image_set).first()
        if found is None:
            raise CommandError(f"no image set named {image_set!r}")
        names = [name.strip() for name in corruptions.split(",") if name.strip()]
        try:
            variants = image_set_variants_create(
                image_set=found, corruptions=names, severities=parse_severities(severities), seed=seed
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{len(variants)} variants in {found.name}")
