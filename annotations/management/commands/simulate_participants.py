import json
import re
import time
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client, override_settings

from analysis import codec
from annotations.brush import render_strokes
from catalogue.demo_data import demo_object_boxes
from catalogue.models import Image
from study.models import Participant, Study, Trial

CONFIG_PATTERN = re.compile(r'<script id="trial-config" type="application/json">(.*?)</script>', re.S)


def bot_strokes(rng: np.random.Generator, width: int, height: int, box) -> list[dict]:
    """A few wandering soft strokes inside the object's box (the whole image's central
    part when unknown), with per-bot jitter: plausible, not identical, maps."""
    left, top, right, bottom = box or (0.2, 0.2, 0.8, 0.8)
    jitter = rng.normal(0, 0.04, 4)
    left, right = sorted(np.clip([left + jitter[0], right + jitter[1]], 0, 1))
    top, bottom = sorted(np.clip([top + jitter[2], bottom + jitter[3]], 0, 1))
    strokes = []
    size = float(max(8.0, min(width, height) * rng.uniform(0.08, 0.16)))
    for _ in range(int(rng.integers(3, 7))):
        point = np.array([rng.uniform(left, right) * width, rng.uniform(top, bottom) * height])
        points = []
        for _ in range(int(rng.integers(8, 20))):
            points.append([round(float(point[0]), 1), round(float(point[1]), 1), 1.0])
            point = point + rng.normal(0, size * 0.6, 2)
            point[0] = np.clip(point[0], left * width, right * width)
            point[1] = np.clip(point[1], top * height, bottom * height)
        strokes.append(
            {"tool": "brush", "size": size, "strength": float(rng.uniform(0.3, 0.7)), "points": points}
        )
    return strokes


def bot_time_on_task_ms(rng: np.random.Generator, study: Study) -> int:
    """8-40 s, at least a second more than the study's minimum per map, and a second less
    than its time limit when it has one (bots never time out)."""
    low = max(8000.0, study.min_seconds_per_map * 1000 + 1000)
    high = max(low, 40000.0)
    if study.time_limit_s:
        high = min(high, study.time_limit_s * 1000 - 1000)
        low = min(low, high)
    return int(rng.uniform(low, high))


class Command(BaseCommand):
    help = (
        "Let N bot participants take the study through the same HTTP endpoints a browser uses: "
        "study link, consent, each trial's page and map submission. Each bot paints with the "
        "brush model and sends its stroke log, and takes 8-40 s per map (within the study's time "
        "limit): by default that time is simulated (the trial is recorded as served that long "
        "before the bot submits, so the server's too-fast check sees it); --real-time waits it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("-n", type=int, default=5, help="number of bot participants (default 5)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--real-time",
            action="store_true",
            help="wait each bot's time per map for real instead of simulating it (slow)",
        )

    def handle(self, *args, **options):
        # The bots run inside this process on the admin's say-so, all from one address:
        # the per-client rate limits meant for the public pages do not apply to them.
        with override_settings(RATE_LIMIT_STARTS_PER_MINUTE=0, RATE_LIMIT_SUBMISSIONS_PER_MINUTE=0):
            self._simulate(**options)

    def _simulate(self, *, study: str, n: int, seed: int, real_time: bool = False, **options):
        study_obj = Study.objects.filter(slug=study).first()
        if study_obj is None:
            raise CommandError(f"no study with slug {study!r}")
        if study_obj.status != Study.Status.OPEN:
            raise CommandError(f"study {study!r} is not open for participants")
        hosts = [h for h in settings.ALLOWED_HOSTS if h not in ("*",) and not h.startswith(".")]
        client = Client(HTTP_HOST=hosts[0] if hosts else "localhost")
        boxes = demo_object_boxes()
        rng = np.random.default_rng(seed)
        start = Participant.objects.filter(study=study_obj, is_bot=True).count()
        for index in range(start, start + n):
            client.cookies.clear()
            pid = f"bot-{seed}-{index}"
            response = client.get(f"/s/{study}/", {"PROLIFIC_PID": pid})
            if response.status_code != 200:
                raise CommandError(f"study link answered {response.status_code}")
            response = client.post(
                f"/s/{study}/consent",
                {"decision": "accept", "recruiter_ids": f"PROLIFIC_PID={pid}"},
                follow=True,
            )
            participant = Participant.objects.get(study=study_obj, prolific_pid=pid)
            participant.is_bot = True
            participant.save(update_fields=["is_bot"])
            client.post(f"/p/{participant.code}/instructions")
            submitted = 0
            while True:
                page = client.get(f"/p/{participant.code}/", follow=True)
                match = CONFIG_PATTERN.search(page.content.decode())
                if not match:
                    break
                config = json.loads(match.group(1))
                image = Image.objects.get(trials__pk=config["trialId"])
                strokes = bot_strokes(rng, image.width, image.height, boxes.get(image.name))
                values = render_strokes(strokes, image.width, image.height)
                time_on_task_ms = bot_time_on_task_ms(rng, study_obj)
                if real_time:
                    time.sleep(time_on_task_ms / 1000)
                else:  # the bot's clock: its trial page was served that long ago
                    trial = Trial.objects.get(pk=config["trialId"])
                    if trial.shown_at is not None:
                        trial.shown_at -= timedelta(milliseconds=time_on_task_ms)
                        trial.save(update_fields=["shown_at"])
                answer = client.post(
                    config["submitUrl"],
                    {
                        "map": _named_file(codec.unit_png16(values)),
                        "strokes": json.dumps(strokes),
                        "time_on_task_ms": time_on_task_ms,
                        "idempotency_key": f"{pid}-{config['trialId']}",
                    },
                )
                if answer.status_code != 200:
                    raise CommandError(
                        f"submission refused ({answer.status_code}): {answer.content.decode()}"
                    )
                submitted += 1
            self.stdout.write(f"bot {pid}: {submitted} maps submitted")


def _named_file(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("map.png", content, content_type="image/png")
