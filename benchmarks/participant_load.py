"""Participant load test: N simulated participants at once, each painting M maps, against
gunicorn + PostgreSQL on loopback; then the database is checked for lost and duplicated maps.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.participant_load \
        [--participants 200] [--maps 20] [--gunicorn-workers 3] [--threads 1] [--think-s 0] [--keep-db] \
        [--database-url postgres://postgres@127.0.0.1:5432/load_bench] [--timeout 900] [--json FILE]

What it does, in order:

1. Drops and creates its own database (``load_bench`` by default; trust auth on 127.0.0.1) and
   a fresh DATA_DIR, migrates, and makes a study through the Django services: ``--maps`` generated
   320x240 images, ``trials_per_participant = --maps``, no practice or attention trials.
2. Starts gunicorn on a free loopback port with the rate limits raised by environment: the
   production limits (60 study starts per minute per IP, 30 submissions per minute per
   participant) would refuse 200 starts from 127.0.0.1 and simulated participants that submit
   with no thinking time. The limits stay on (checked per request), only their values change.
3. Runs every participant at once with asyncio + httpx, as a browser does: the study link
   (CSRF cookie), the consent form (its token), the instructions form, then per trial the
   trial page, the image, and the map: a 16-bit PNG at the image's size rendered from a stroke
   log by the painter's own brush model, with the stroke log, canvas metadata, focus events and
   an idempotency key. Like the painter it retries on 5xx, 429 and connection errors with the
   same key (after 1, 2, 4, 8 s). With ``--think-s`` a participant paints for a while (uniform,
   0.5 to 1.5 times the mean) between loading a trial and submitting; without it every
   participant submits at once, again and again: a closed loop at full load. Submit latency
   is measured at the client, per submit, including any retries (what the participant waits for).
4. Checks the database: exactly N x M annotations, every trial done (0 lost), one annotation
   per trial and unique idempotency keys (0 duplicates), every participant finished; and that
   every submission the client saw acknowledged is stored.

Everything runs under a hard timeout (``--timeout``); gunicorn is stopped and the database
dropped (unless ``--keep-db``) whatever happens. Exit status 0 only when there were no errors,
nothing lost and no duplicates. The figures are printed; ``--json FILE`` writes them too.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/load_bench"
STUDY_SLUG = "load"
IMAGE_SIZE = (320, 240)
RETRY_DELAYS_S = (1, 2, 4, 8)  # the painter's RETRY_DELAYS_MS
MAP_POOL_SIZE = 24  # distinct maps the participants draw from (rendering 4 000 would cost minutes)
RAISED_RATE_LIMIT = 1_000_000  # per minute: on, but never reached by the simulation


# ---------------------------------------------------------------- database and study setup


def recreate_postgres_database(database_url: str, *, drop_only: bool = False) -> None:
    """Drop the benchmark's own database and (unless drop_only) create it empty."""
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing database name {name!r}: use lower-case letters, digits and _")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            connection.execute(f"CREATE DATABASE {name}")


def generated_image_png(rng: np.random.Generator, index: int) -> bytes:
    """A small distinct RGB image: a smooth colour gradient with a bright disc."""
    from PIL import Image as PILImage

    width, height = IMAGE_SIZE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(0, 255, 3).astype(np.float32)
    picture = np.stack([base[c] * (0.5 + 0.5 * xx / width) for c in range(3)], axis=-1)
    cx, cy, radius = rng.uniform(60, width - 60), rng.uniform(60, height - 60), rng.uniform(20, 50)
    picture[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2] = (255 - index) % 256
    buffer = io.BytesIO()
    PILImage.fromarray(picture.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def create_study(maps: int, seed: int = 0):
    """The study the participants take: ``maps`` main images, one trial per image each."""
    from catalogue.models import ImageSet
    from catalogue.services import image_create
    from study.models import Study

    rng = np.random.default_rng(seed)
    image_set = ImageSet.objects.create(name="load test images")
    for index in range(maps):
        image_create(
            image_set=image_set,
            name=f"load-{index:03d}",
            content=generated_image_png(rng, index),
            filename=f"load-{index:03d}.png",
            class_index=index % 1000,
            class_name=f"class {index}",
        )
    return Study.objects.create(
        slug=STUDY_SLUG,
        title="Load test",
        image_set=image_set,
        trials_per_participant=maps,
        target_annotations_per_image=10_000,
    )


@dataclass
class PaintedMap:
    png: bytes
    strokes_json: str


def map_pool(count: int, seed: int = 1) -> list[PaintedMap]:
    """Realistic maps: a few brush strokes rendered by the painter's brush model, as 16-bit
    PNGs at the image's size, with their stroke logs (what the painter sends)."""
    from PIL import Image as PILImage

    from annotations.brush import render_strokes

    rng = random.Random(seed)
    width, height = IMAGE_SIZE
    pool = []
    for _ in range(count):
        strokes = []
        for _ in range(rng.randint(2, 5)):
            x, y = rng.uniform(40, width - 40), rng.uniform(40, height - 40)
            points = []
            for _ in range(rng.randint(15, 40)):
                x = min(max(x + rng.uniform(-6, 6), 0), width)
                y = min(max(y + rng.uniform(-6, 6), 0), height)
                points.append([round(x, 2), round(y, 2), 0.5])
            strokes.append(
                {"tool": "brush", "size": rng.choice([24, 32, 48]), "strength": 1, "points": points}
            )
        values = render_strokes(strokes, width, height)
        buffer = io.BytesIO()
        PILImage.fromarray(np.round(values * 65535).astype(np.uint16)).save(buffer, format="PNG")
        pool.append(PaintedMap(png=buffer.getvalue(), strokes_json=json.dumps(strokes)))
    return pool


# ---------------------------------------------------------------- gunicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(*, port: int, workers: int, threads: int, env: dict, log_path: Path) -> subprocess.Popen:
    """gunicorn as scripts/start runs it; sync workers for --threads 1, else gthread."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync" if threads == 1 else "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "120",
        "--backlog",
        "2048",
    ]
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process by stop_gunicorn
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def wait_until_serving(base_url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            if httpx.get(f"{base_url}/s/{STUDY_SLUG}/", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer within {timeout_s} s")


def worker_memory_mib(process: subprocess.Popen) -> dict:
    """RSS and PSS (shared pages split between processes) of the gunicorn master's workers."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    rss, pss = [], []
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        values = dict(re.findall(r"^(\w+):\s+(\d+) kB", rollup, flags=re.M))
        rss.append(int(values.get("Rss", 0)) / 1024)
        pss.append(int(values.get("Pss", 0)) / 1024)
    return {"workers": len(rss), "rss_mib_each": [round(v) for v in rss], "pss_mib_total": round(sum(pss))}


def workers_cpu_s(process: subprocess.Popen) -> float:
    """CPU seconds (user + system) the gunicorn workers have used so far."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    total = 0
    for pid in children.read_text().split() if children.exists() else []:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def torch_loaded_in_workers(process: subprocess.Popen) -> bool:
    """Whether a worker has torch's shared library mapped (i.e. imported torch)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        try:
            if "libtorch" in Path(f"/proc/{pid}/maps").read_text():
                return True
        except OSError:
            continue
    return False


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log.close()


# ---------------------------------------------------------------- the simulated participants

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TRIAL_CONFIG = re.compile(r'<script id="trial-config" type="application/json">(.*?)</script>', re.S)
PARTICIPANT_CODE = re.compile(r"/p/([^/]+)/")


@dataclass
class Results:
    submit_latencies_s: list = field(default_factory=list)
    retries: int = 0
    retry_reasons: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # one line per failed step (after retries)
    acknowledged: list = field(default_factory=list)  # (participant code, trial id, key)
    finished_pages: int = 0
    first_submit_at: float | None = None
    last_submit_at: float | None = None


class StepError(Exception):
    pass


async def request_with_retries(client, method: str, url: str, results: Results, **kwargs):
    """One request, retried like the painter on 5xx, 429 and connection errors."""
    import httpx

    for attempt in range(len(RETRY_DELAYS_S) + 1):
        try:
            response = await client.request(method, url, **kwargs)
            reason = (
                str(response.status_code)
                if response.status_code >= 500 or response.status_code == 429
                else ""
            )
        except httpx.TransportError as error:
            response, reason = None, type(error).__name__
        if not reason:
            return response
        if attempt == len(RETRY_DELAYS_S):
            raise StepError(f"{method} {url}: {reason} after {attempt} retries")
        results.retries += 1
        results.retry_reasons[reason] = results.retry_reasons.get(reason, 0) + 1
        await asyncio.sleep(RETRY_DELAYS_S[attempt])


async def participant(
    index: int, base_url: str, pool: list[PaintedMap], results: Results, rng: random.Random, think_s: float
):
    import httpx

    async with httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(60.0),
        headers={"User-Agent": f"participant-load/{index}"},
        follow_redirects=True,
    ) as client:
        entry = await request_with_retries(client, "GET", f"/s/{STUDY_SLUG}/", results)
        token = CSRF_INPUT.search(entry.text)
        if entry.status_code != 200 or not token:
            raise StepError(f"study link: {entry.status_code}")
        consent = await request_with_retries(
            client,
            "POST",
            f"/s/{STUDY_SLUG}/consent",
            results,
            data={"csrfmiddlewaretoken": token.group(1), "recruiter_ids": "", "decision": "accept"},
            headers={"Referer": f"{base_url}/s/{STUDY_SLUG}/"},
        )
        code = PARTICIPANT_CODE.search(consent.url.path)
        token = CSRF_INPUT.search(consent.text)
        if consent.status_code != 200 or not code or not token:
            raise StepError(f"consent: {consent.status_code} at {consent.url.path}")
        code = code.group(1)
        page = await request_with_retries(
            client,
            "POST",
            f"/p/{code}/instructions",
            results,
            data={"csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": str(consent.url)},
        )
        while True:
            if page.status_code != 200:
                raise StepError(f"participant page: {page.status_code} at {page.url.path}")
            if page.url.path.endswith("/done"):
                results.finished_pages += 1
                return
            found = TRIAL_CONFIG.search(page.text)
            if not found:
                raise StepError(f"no trial on {page.url.path}")
            config = json.loads(found.group(1))
            image = await request_with_retries(client, "GET", config["imageUrl"], results)
            if image.status_code != 200:
                raise StepError(f"trial image: {image.status_code}")
            if think_s:  # painting: uniform between half and one and a half times the mean
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
            painted = pool[rng.randrange(len(pool))]
            key = uuid.uuid4().hex
            form = {
                "strokes": painted.strokes_json,
                "time_on_task_ms": str(rng.randint(3_000, 30_000)),
                "canvas_width": str(config["width"]),
                "canvas_height": str(config["height"]),
                "device_pixel_ratio": "1",
                "idempotency_key": key,
                "focus_events": json.dumps([["focus", 5], ["blur", 1200], ["focus", 1800]]),
                "timed_out": "0",
            }
            started = time.perf_counter()
            response = await request_with_retries(
                client,
                "POST",
                config["submitUrl"],
                results,
                data=form,
                files={"map": ("map.png", painted.png, "image/png")},
                headers={
                    "X-CSRFToken": client.cookies.get("csrftoken", ""),
                    "Accept": "application/json",
                    "Referer": str(page.url),
                },
            )
            ended = time.perf_counter()
            if response.status_code != 200:
                raise StepError(f"submit: {response.status_code} {response.text[:200]}")
            results.submit_latencies_s.append(ended - started)
            results.acknowledged.append((code, config["trialId"], key))
            results.first_submit_at = min(results.first_submit_at or started, started)
            results.last_submit_at = max(results.last_submit_at or ended, ended)
            page = await request_with_retries(client, "GET", response.json()["next_url"], results)


async def run_participants(
    count: int, base_url: str, pool: list[PaintedMap], results: Results, think_s: float, seed: int = 2
):
    async def one(index: int):
        try:
            await participant(index, base_url, pool, results, random.Random(seed * 100_003 + index), think_s)
        except StepError as error:
            results.errors.append(f"participant {index}: {error}")

    await asyncio.gather(*(one(index) for index in range(count)))


def run_participants_bounded(timeout_s: float, *args) -> bool:
    """Run the participants in a daemon thread; False when they are not done in time. A
    thread, not asyncio.wait_for: cancelling 200 clients mid-request can itself hang, and the
    bound must hold whatever happens. Stopping gunicorn afterwards ends any leftover request."""
    errors = []

    def target():
        try:
            asyncio.run(run_participants(*args))
        except BaseException as error:  # reported, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if errors:
        raise errors[0]
    return not thread.is_alive()


# ---------------------------------------------------------------- checks and figures


def verify_database(participants: int, maps: int, acknowledged: list) -> dict:
    """What the database holds after the run, against what every participant should have."""
    from django.db.models import Count

    from annotations.models import Annotation
    from study.models import Participant, Trial

    trials = Trial.objects.filter(participant__study__slug=STUDY_SLUG)
    annotations = Annotation.objects.filter(trial__participant__study__slug=STUDY_SLUG)
    expected = participants * maps
    stored = set(annotations.values_list("trial__participant__code", "trial_id", "idempotency_key"))
    return {
        "participants": Participant.objects.filter(study__slug=STUDY_SLUG).count(),
        "participants_finished": Participant.objects.filter(
            study__slug=STUDY_SLUG, finished_at__isnull=False
        ).count(),
        "annotations": annotations.count(),
        "expected_annotations": expected,
        "trials_not_done": trials.exclude(status=Trial.Status.DONE).count(),
        "trials_done_without_annotation": trials.filter(
            status=Trial.Status.DONE, annotation__isnull=True
        ).count(),
        "acknowledged_but_not_stored": sum(1 for item in acknowledged if item not in stored),
        "trials_with_several_annotations": annotations.values("trial_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count(),
        "duplicate_idempotency_keys": annotations.values("idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count(),
    }


def percentile(values: list, q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summary(
    results: Results, database: dict, args, wall_s: float, memory: dict, torch_loaded: bool, cpu_s: dict
) -> dict:
    latencies_ms = [v * 1000 for v in results.submit_latencies_s]
    submit_window = (
        results.last_submit_at - results.first_submit_at
        if results.first_submit_at is not None
        else float("nan")
    )
    lost = (
        database["expected_annotations"]
        - database["annotations"]
        + database["acknowledged_but_not_stored"]
        + database["trials_done_without_annotation"]
    )
    duplicates = database["trials_with_several_annotations"] + database["duplicate_idempotency_keys"]
    return {
        "participants": args.participants,
        "maps_per_participant": args.maps,
        "gunicorn_workers": args.gunicorn_workers,
        "threads": args.threads,
        "think_s": args.think_s,
        "worker_class": "sync" if args.threads == 1 else "gthread",
        "database": urlparse(args.database_url).scheme,
        "submits": len(latencies_ms),
        "submit_ms_p50": round(percentile(latencies_ms, 50), 1),
        "submit_ms_p95": round(percentile(latencies_ms, 95), 1),
        "submit_ms_p99": round(percentile(latencies_ms, 99), 1),
        "submit_ms_max": round(max(latencies_ms), 1) if latencies_ms else None,
        "submit_ms_mean": round(statistics.fmean(latencies_ms), 1) if latencies_ms else None,
        "maps_per_s": round(len(latencies_ms) / submit_window, 1) if latencies_ms else 0.0,
        "wall_s": round(wall_s, 1),
        "retries": results.retries,
        "retry_reasons": results.retry_reasons,
        "errors": len(results.errors),
        "error_samples": results.errors[:5],
        "lost": lost,
        "duplicates": duplicates,
        "finished_pages": results.finished_pages,
        "database_checks": database,
        "memory": memory,
        "torch_in_workers": torch_loaded,
        "cpu_s_during_run": cpu_s,
        "load_average_before": args.load_before,
        "load_average_after": args.load_after,
    }


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--maps", type=int, default=20, help="maps per participant (= images in the study)")
    parser.add_argument("--gunicorn-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="1: sync workers; more: gthread")
    parser.add_argument(
        "--database-url", default=DEFAULT_DATABASE_URL, help="postgres://... or sqlite:///FILE"
    )
    parser.add_argument(
        "--think-s",
        type=float,
        default=0.0,
        help="mean seconds a participant paints before submitting (0: submit at once, the worst case)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the database (and DATA_DIR) afterwards")
    parser.add_argument("--timeout", type=float, default=900, help="hard limit for the participants, seconds")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.participants < 1 or args.maps < 1 or args.gunicorn_workers < 1 or args.threads < 1:
        parser.error("--participants, --maps, --gunicorn-workers and --threads must be at least 1")
    if args.think_s < 0:
        parser.error("--think-s must not be negative")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.load_before = [round(v, 2) for v in os.getloadavg()]
    postgres = args.database_url.startswith(("postgres://", "postgresql://"))
    data_dir = Path(tempfile.mkdtemp(prefix="participant-load-"))
    env = dict(
        os.environ,
        DATABASE_URL=args.database_url,
        DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        RATE_LIMIT_STARTS_PER_MINUTE=str(RAISED_RATE_LIMIT),
        RATE_LIMIT_SUBMISSIONS_PER_MINUTE=str(RAISED_RATE_LIMIT),
        OMP_WAIT_POLICY="PASSIVE",
        CACHE_URL="",
    )
    os.environ.update(env)
    if postgres:
        recreate_postgres_database(args.database_url)

    import django
    from django.core.management import call_command

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per request
    process = None
    try:
        call_command("migrate", verbosity=0, interactive=False)
        create_study(args.maps)
        pool = map_pool(MAP_POOL_SIZE)
        from django.db import connections

        connections.close_all()  # no idle connection of ours during the run

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = start_gunicorn(
            port=port,
            workers=args.gunicorn_workers,
            threads=args.threads,
            env=env,
            log_path=data_dir / "gunicorn.log",
        )
        wait_until_serving(base_url, process)
        results = Results()
        workers_cpu_before, client_cpu_before = workers_cpu_s(process), time.process_time()
        started = time.perf_counter()
        if not run_participants_bounded(
            args.timeout, args.participants, base_url, pool, results, args.think_s
        ):
            results.errors.append(f"hard timeout: the participants were not done after {args.timeout} s")
        wall_s = time.perf_counter() - started
        cpu_s = {
            "gunicorn_workers": round(workers_cpu_s(process) - workers_cpu_before, 1),
            "client": round(time.process_time() - client_cpu_before, 1),
        }
        args.load_after = [round(v, 2) for v in os.getloadavg()]
        memory = worker_memory_mib(process)
        torch_loaded = torch_loaded_in_workers(process)
        stop_gunicorn(process)
        database = verify_database(args.participants, args.maps, results.acknowledged)
        figures = summary(results, database, args, wall_s, memory, torch_loaded, cpu_s)
        connections.close_all()
    finally:
        if process is not None:
            stop_gunicorn(process)
            if process.returncode not in (0, -signal.SIGTERM):
                print(f"gunicorn log: {data_dir / 'gunicorn.log'}", file=sys.stderr)
        if not args.keep_db:
            if postgres:
                recreate_postgres_database(args.database_url, drop_only=True)
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept: database {args.database_url}, DATA_DIR {data_dir}", file=sys.stderr)

    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    ok = figures["errors"] == 0 and figures["lost"] == 0 and figures["duplicates"] == 0
    ok = ok and figures["database_checks"]["trials_not_done"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
