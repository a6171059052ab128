from django.core.management.base import BaseCommand, CommandError

from explain.biased_model import IMAGE_SET_NAME, MODEL_NAME, biased_model_train
from explain.watermark import CLASS_NAMES, WATERMARK_CLASS


class Command(BaseCommand):
    help = (
        f"Train the built-in biased model: generate the watermark dataset, train a small CNN on "
        f"the CPU, save model {MODEL_NAME!r} and image set {IMAGE_SET_NAME!r} (test images that "
        "carry the watermark, with its box)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, default=24, help="test images in the image set")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, default=3)

    def handle(self, *args, **options):
        try:
            report = biased_model_train(
                n_images=options["images"], seed=options["seed"], epochs=options["epochs"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        shortcut = CLASS_NAMES[WATERMARK_CLASS]
        self.stdout.write(f"trained in {report.train_seconds:.1f} s")
        self.stdout.write(f"accuracy, watermark as in training:  {report.train_accuracy:.1%}")
        self.stdout.write(f"accuracy, clean images:              {report.clean_accuracy:.1%}")
        self.stdout.write(f"accuracy, every image watermarked:   {report.watermarked_accuracy:.1%}")
        self.stdout.write(
            f"watermarked non-{shortcut} images called {shortcut!r}: {report.other_class_flipped:.1%} "
            "(the shortcut)"
        )
        if report.stale_results_deleted:
            self.stdout.write(f"deleted {report.stale_results_deleted} predictions/maps of the old weights")
        self.stdout.write(
            self.style.SUCCESS(
                f"model {report.spec.name!r} and image set {report.image_set.name!r} "
                f"({report.image_set.images.count()} images) are ready"
            )
        )
