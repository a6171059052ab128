import json
import time
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from PIL import Image as PILImage

from analysis.render import overlay_png
from explain import saliency
from explain.models import ModelSpec
from explain.packaged_models import PACKAGED_MODELS
from explain.saliency.registry import LAYER_METHODS, method_names, method_params
from explain.services import model_space_values, model_spec_load


def _parse_value(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # a bare string such as zeros or gauss_legendre


class Command(BaseCommand):
    help = "Compute one saliency map for an image file and write it as .npy (the map) or .png (an overlay)."

    def add_arguments(self, parser):
        parser.add_argument("image", help="image file (PNG, JPEG, ...)")
        parser.add_argument(
            "--model",
            default="efficientnet-lite0",
            help="ModelSpec name (default efficientnet-lite0; efficientnet-lite1/-lite2 also work unsaved)",
        )
        parser.add_argument("--method", required=True, choices=sorted(method_names()))
        parser.add_argument("--target", default="predicted", help="class index, or 'predicted' (default)")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="override a method parameter, e.g. --param steps=50 --param rule=gauss_legendre",
        )
        parser.add_argument("-o", "--output", required=True, help="OUT.npy or OUT.png")

    def handle(
        self, *args, image: str, model: str, method: str, target: str, param: list, output: str, **options
    ):
        out = Path(output)
        if out.suffix.lower() not in (".npy", ".png"):
            raise CommandError("the output must end in .npy or .png")
        try:
            picture = PILImage.open(image)
            picture.load()
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read image {image}: {error}") from None
        spec = ModelSpec.objects.filter(name=model).first()
        offline = {packaged.name: source for source, packaged in PACKAGED_MODELS.items()}
        if spec is None and model in offline:  # the offline models work before any is saved
            spec = ModelSpec(name=model, source=offline[model])
            spec.resolve_preprocessing()
        if spec is None:
            known = ", ".join(ModelSpec.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no model named {model!r} (known: {known})")
        overrides = {}
        for item in param:
            name, sep, raw = item.partition("=")
            if not sep:
                raise CommandError(f"--param needs NAME=VALUE, got {item!r}")
            overrides[name] = _parse_value(raw)
        try:
            params = method_params(method, overrides)
        except ValueError as error:
            raise CommandError(str(error)) from None

        loaded = model_spec_load(spec)
        batch = loaded.preprocess(picture)[None].to(loaded.device)
        top5 = loaded.top_k(batch)[0]
        if target == "predicted":
            target_class = top5[0]["index"]
        else:
            try:
                target_class = int(target)
            except ValueError:
                raise CommandError("--target must be a class index or 'predicted'") from None
            if not 0 <= target_class < len(loaded.class_names):
                raise CommandError(f"--target must be between 0 and {len(loaded.class_names) - 1}")
        started = time.perf_counter()
        module = loaded.module if method in LAYER_METHODS else loaded.gradient_module
        result = saliency.compute_result(
            method, module, batch, [target_class], **params, **model_space_values(method, loaded)
        )
        runtime = time.perf_counter() - started
        values = result.maps[0]
        if out.suffix.lower() == ".npy":
            np.save(out, values)
        else:
            out.write_bytes(overlay_png(picture, values, width=min(picture.width, 512), alpha=0.75))
        name, best = loaded.class_names[target_class], top5[0]
        top1 = f"{best['name']} ({best['probability']:.3f})"
        self.stdout.write(f"top-1: {top1}; explained class {target_class} ({name})")
        gap = result.details[0].get("completeness_gap")
        self.stdout.write(
            f"{method} map {values.shape[1]}x{values.shape[0]} in {runtime:.1f} s on {loaded.device}"
            + (f", completeness gap {gap:.3f}" if gap is not None else "")
            + f" -> {out}"
        )
