from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalogue.class_names import model_vocabularies
from catalogue.image_import import ImageImportError, import_images, read_labels_csv


class Command(BaseCommand):
    # No system checks: they import every view and the API's schema code (about 2 s of start-up);
    # manage.py check, migrate and the servers run them.
    requires_system_checks = []
    help = (
        "Add the images of a folder or a ZIP to an image set (created if missing), with labels "
        "from a CSV checked against a model's class names. Nothing is saved if anything is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="a folder (searched recursively) or a .zip file")
        parser.add_argument("--set", required=True, dest="set_name", help="image set name")
        parser.add_argument(
            "--labels", help="CSV: file,label[,practice,attention_check,texture_label,box] (see README)"
        )
        parser.add_argument(
            "--model", help="ModelSpec name whose class names the labels must match (default: ImageNet)"
        )

    def handle(self, *args, source: str, set_name: str, labels: str | None, model: str | None, **options):
        known = model_vocabularies()
        if model and model not in known:
            raise CommandError(f"no model named '{model}' (known: {', '.join(known) or 'none'})")
        try:
            labels_text = None
            if labels:
                path = Path(labels)
                if not path.is_file():
                    raise CommandError(f"labels file {labels} not found")
                labels_text = read_labels_csv(path.read_bytes(), path.name)
            result = import_images(
                image_set_name=set_name,
                sources=Path(source),
                labels_csv=labels_text,
                labels_csv_name=Path(labels).name if labels else "labels CSV",
                model_name=model,
            )
        except ImageImportError as error:
            lines = "\n".join(f"  {message}" for message in error.errors)
            raise CommandError(f"nothing was imported; {len(error.errors)} problem(s):\n{lines}") from None
        for skipped in result.skipped_duplicates:
            self.stdout.write(f"skipped duplicate {skipped}")
        self.stdout.write(result.summary())
