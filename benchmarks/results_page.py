"""The platform's own analysis on a generated study in a throwaway SQLite database: what the
results page and the exports compute (``research.scores``: reading the painted and model maps,
then ``analysis.batch_scores.score_maps`` and ``split_half_ceiling`` per image) against the per-map
loop it replaced (every ``analysis.metrics`` function on every model map, ``ceiling.split_half``
per image, on maps already read and decoded), side by side in one run, after checking that
both give the same numbers; then the whole results page, with its cache empty (the first view
after new data) and again (every later view, until the data change).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.results_page \
        [--images 100] [--participants 15] [--models 2] [--methods 2] [--size 224] [--repeats 3]

The data are ``benchmarks.analysis.generate``'s (8-bit maps stored as the painter's 16-bit
PNGs), stored as annotations of done main trials and as saliency maps of the study's models and
methods (the models are database rows only: nothing is computed by a model here).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see benchmarks/analysis.py

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

METHODS = ("integrated_gradients", "xrai", "vanilla_gradient", "smoothgrad", "grad_x_input")


def png16(values: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(values.astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def create_study(images: int, participants: int, models: int, methods: int, size: int):
    """A done study: every participant painted every image; every model x method map stored."""
    from django.utils import timezone
    from PIL import Image as PILImage

    from annotations.models import Annotation
    from benchmarks.analysis import generate
    from catalogue.models import ImageSet
    from catalogue.services import image_create
    from explain.models import ModelSpec, SaliencyMap
    from explain.saliency.registry import method_params, params_hash
    from study.models import Participant, Study, Trial

    human, model, _ = generate(images, participants, models, methods, size)
    image_set = ImageSet.objects.create(name="results benchmark")
    rows = []
    for index in range(images):
        picture = PILImage.fromarray(
            (np.random.default_rng(index).random((size, size, 3)) * 255).astype(np.uint8)
        )
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        rows.append(
            image_create(
                image_set=image_set,
                name=f"img-{index:04d}",
                content=buffer.getvalue(),
                filename=f"img-{index:04d}.png",
                class_index=index % 1000,
                class_name=f"class {index % 1000}",
            )
        )
    specs = [
        ModelSpec.objects.create(name=f"model-{j}", source=ModelSpec.Source.EFFICIENTNET_LITE0)
        for j in range(models)
    ]
    study = Study.objects.create(
        slug="results-benchmark",
        title="Results benchmark",
        image_set=image_set,
        trials_per_participant=images,
        methods=list(METHODS[:methods]),
    )
    study.model_specs.add(*specs)
    now = timezone.now()
    for p in range(participants):
        participant = Participant.objects.create(study=study, consented_at=now, finished_at=now)
        trials = Trial.objects.bulk_create(
            Trial(
                participant=participant,
                image=image,
                position=i,
                status=Trial.Status.DONE,
                shown_at=now,
                completed_at=now,
            )
            for i, image in enumerate(rows)
        )
        Annotation.objects.bulk_create(
            Annotation(
                trial=trial,
                map_png=png16(human[i, p].astype(np.uint16) * 257),
                width=size,
                height=size,
                bit_depth=16,
                coverage=float((human[i, p] >= 13).mean()),
            )
            for i, trial in enumerate(trials)
        )
    for j, spec in enumerate(specs):
        for k, method in enumerate(study.methods):
            params = method_params(method, None)
            SaliencyMap.objects.bulk_create(
                SaliencyMap(
                    image=image,
                    model=spec,
                    method=method,
                    target_class=image.class_index,
                    params=params,
                    params_hash=params_hash(params),
                    map_npy=SaliencyMap.encode(model[i, j, k]),
                    runtime_s=0.0,
                    device="cpu",
                    versions={},
                    weights_sha256="0" * 64,
                )
                for i, image in enumerate(rows)
            )
    return study


def loop_scores(study, humans) -> tuple[dict, dict]:
    """What ``research.selectors`` computed before the batched kernel: map id -> the scores of
    every ``analysis.metrics`` function in METRICS order; image id -> split-half ceiling."""
    from analysis import ceiling, metrics
    from analysis.batch_scores import column_metric
    from analysis.human_maps import mean_map, resize_map
    from research import inputs

    functions = {
        name: (metrics.auc_borji if name == "auc_borji" else column_metric(name, inputs.SCORING))
        for name in inputs.METRICS
    }
    means = {image_id: mean_map(arrays) for image_id, arrays in humans.items()}
    scores = {}
    for saliency_map in inputs.study_saliency_maps(study=study):
        human = means[saliency_map.image_id]
        model_map = resize_map(saliency_map.map_array(), human.shape)
        scores[saliency_map.pk] = [function(model_map, human) for function in functions.values()]
    ceilings = {
        image_id: ceiling.split_half(maps, n_splits=inputs.CEILING_SPLITS, rng=0)
        for image_id, maps in humans.items()
    }
    return scores, ceilings


def fast_scores(study, humans) -> tuple[dict, dict]:
    """``research.scores`` with its cache emptied first: it reads and decodes the painted and
    model maps itself, one image at a time (``humans`` is for the loop's signature only)."""
    from django.core.cache import cache

    from research.scores import study_scores

    cache.clear()
    result = study_scores(study=study)
    return {pk: list(values) for pk, values in result.scores.items()}, result.ceilings


def check_same(fast, loop, tolerance: float = 1e-9) -> None:
    for label, a, b in (("scores", fast[0], loop[0]), ("ceilings", fast[1], loop[1])):
        if a.keys() != b.keys():
            raise SystemExit(f"{label}: different keys")
        x = np.array([a[key] for key in sorted(a)], dtype=float)
        y = np.array([b[key] for key in sorted(b)], dtype=float)
        if not (np.array_equal(np.isnan(x), np.isnan(y)) and np.nanmax(np.abs(x - y)) <= tolerance):
            raise SystemExit(f"{label}: the batched kernel and the loop disagree")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--participants", type=int, default=15)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--methods", type=int, default=2, help=f"the first N of {', '.join(METHODS)}")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="results-benchmark-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        CACHE_URL="",
        DJANGO_DEBUG="false",
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    from research import inputs

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    study = create_study(args.images, args.participants, args.models, args.methods, args.size)
    print(
        f"stored {args.images} images x {args.participants} participants, {args.models} models x "
        f"{args.methods} methods at {args.size}x{args.size} in {time.perf_counter() - started:.0f} s "
        f"(SQLite in {data_dir})"
    )

    started = time.perf_counter()
    humans = inputs.human_maps(study=study)
    read_s = time.perf_counter() - started
    print(f"reading and decoding {sum(map(len, humans.values()))} painted maps: {read_s:.1f} s")
    check_same(fast_scores(study, humans), loop_scores(study, humans))
    print("check: batched kernel and loop agree to 1e-9 on every score and ceiling")

    fast_times, loop_times, page_times, cached_times = [], [], [], []
    user = get_user_model().objects.create_user("bench", password="bench-pass-123", is_staff=True)
    client = Client()
    client.force_login(user)
    for _ in range(args.repeats):
        for times, function in ((fast_times, fast_scores), (loop_times, loop_scores)):
            started = time.perf_counter()
            function(study, humans)
            times.append(time.perf_counter() - started)
        cache.clear()
        for times in (page_times, cached_times):
            started = time.perf_counter()
            response = client.get(f"/research/{study.slug}/")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        print(
            f"  run: research.scores {fast_times[-1]:.1f} s, loop {loop_times[-1]:.1f} s, results page "
            f"{page_times[-1]:.1f} s, again {cached_times[-1]:.2f} s",
            flush=True,
        )
    ratio = statistics.median(loop / fast for fast, loop in zip(fast_times, loop_times))
    print(
        f"\nscores + ceilings: research.scores median {statistics.median(fast_times):.1f} s "
        "(reads included), "
        f"loop median {statistics.median(loop_times):.1f} s (reads excluded), speed-up {ratio:.0f}x "
        f"(median of {args.repeats} paired ratios)"
    )
    print(
        f"whole results page: median {statistics.median(page_times):.1f} s with an empty cache, "
        f"{statistics.median(cached_times):.2f} s again"
    )


if __name__ == "__main__":
    main()
