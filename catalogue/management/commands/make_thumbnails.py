from django.core.management.base import BaseCommand

from catalogue.models import Image
from catalogue.services import image_thumbnail_fill


class Command(BaseCommand):
    help = "Make the thumbnails of images stored before thumbnails existed (new images get one at once)."

    def add_arguments(self, parser):
        parser.add_argument("--set", dest="set_name", help="only this image set")

    def handle(self, *args, set_name: str | None, **options):
        images = Image.objects.filter(thumbnail="")
        if set_name:
            images = images.filter(image_set__name=set_name)
        made = failed = 0
        for image in images.iterator():
            try:
                image_thumbnail_fill(image)
            except (OSError, ValueError) as error:  # a missing or unreadable file: report, go on
                failed += 1
                self.stderr.write(f"{image.image_set.name}/{image.name}: {error}")
            else:
                made += 1
        self.stdout.write(f"{made} thumbnail(s) made, {failed} failed")
