from django.core.management.base import BaseCommand, CommandError

from explain.two_head_model import IMAGE_SET_NAME, MODEL_NAMES, two_head_model_train


class Command(BaseCommand):
    help = (
        "Train the built-in two-head model: generate images of two objects, train a small CNN "
        "with a head 'shape' (the left object's shape) and a head 'colour' (the right object's "
        f"colour) on the CPU, save it as a torch.export program, models "
        f"{', '.join(repr(name) for name in MODEL_NAMES.values())} (one per head, same file) and "
        f"image set {IMAGE_SET_NAME!r}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, default=12, help="test images in the image set")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, default=5)

    def handle(self, *args, **options):
        try:
            report = two_head_model_train(
                n_images=options["images"], seed=options["seed"], epochs=options["epochs"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"trained in {report.train_seconds:.1f} s")
        for head, share in report.accuracy.items():
            self.stdout.write(f"held-out accuracy, head {head!r}: {share:.1%}")
        if report.stale_results_deleted:
            self.stdout.write(f"deleted {report.stale_results_deleted} predictions/maps of the old weights")
        models = ", ".join(f"{spec.name!r} (head {head!r})" for head, spec in report.specs.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"models {models} and image set {report.image_set.name!r} "
                f"({report.image_set.images.count()} images) are ready"
            )
        )
