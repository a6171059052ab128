from pathlib import PurePosixPath

from django.core.management.base import BaseCommand

from catalogue.models import Image
from catalogue.renditions import rendition_file_names
from catalogue.services import image_renditions_fill


class Command(BaseCommand):
    help = (
        "Make the display renditions (WebP/JPEG at the sizes participants see) of images that "
        "have none, have them from older settings or miss a file; new images get theirs when added."
    )

    def add_arguments(self, parser):
        parser.add_argument("--set", dest="set_name", help="only this image set")

    def handle(self, *args, set_name: str | None, **options):
        images = Image.objects.select_related("image_set").order_by("pk")
        if set_name:
            images = images.filter(image_set__name=set_name)
        made = failed = current = 0
        for image in images.iterator():
            stored = {PurePosixPath(entry["name"]).name for entry in image.renditions}
            on_disk = all(image.file.storage.exists(entry["name"]) for entry in image.renditions)
            if on_disk and stored == rendition_file_names(image.sha256, image.width):
                current += 1
                continue
            try:
                image_renditions_fill(image)
            except (OSError, ValueError) as error:  # a missing or unreadable file: report, go on
                failed += 1
                self.stderr.write(f"{image.image_set.name}/{image.name}: {error}")
            else:
                made += 1
        self.stdout.write(f"{made} image(s) given renditions, {current} already current, {failed} failed")
