"""The painted maps' endpoints: a participant's map submission and the instructions'
worked example of a painted map."""

import io
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotations.services import Submission, SubmissionError, annotation_submit
from config.security import rate_limited
from study.models import Participant


@require_http_methods(["GET"])
def worked_example(request: HttpRequest, extension: str = "png") -> HttpResponse:
    """The instructions' picture (see _worked_example_bytes), drawn once per process."""
    response = HttpResponse(_worked_example_bytes(extension), content_type=f"image/{extension}")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@lru_cache(maxsize=2)
def _worked_example_bytes(extension: str) -> bytes:
    """An image no study shows, painted as a participant would, drawn in the painter's own
    colours (analysis.render.painter_overlay_png, overlay.js's twin) at the painter's default
    overlay opacity. As WebP (q 80: 14 KB instead of the PNG's 126 KB, the largest file a
    participant downloaded) or as PNG for the rare browser without."""
    from PIL import Image as PILImage

    from analysis.render import painter_overlay_png
    from annotations.brush import render_strokes
    from catalogue.demo_data import (
        WORKED_EXAMPLE_CROP,
        WORKED_EXAMPLE_IMAGE,
        WORKED_EXAMPLE_STROKES,
        demo_image_path,
    )

    with PILImage.open(demo_image_path(WORKED_EXAMPLE_IMAGE)) as original:
        picture = original.convert("RGB").crop(WORKED_EXAMPLE_CROP)
    painted = render_strokes(WORKED_EXAMPLE_STROKES, picture.width, picture.height)
    content = painter_overlay_png(picture, painted, width=451)
    if extension == "webp":
        buffer = io.BytesIO()
        PILImage.open(io.BytesIO(content)).save(buffer, format="WEBP", quality=80, method=4)
        content = buffer.getvalue()
    return content


@require_POST
@rate_limited(
    "submit", key=lambda request, code, **kwargs: code, limit_setting="RATE_LIMIT_SUBMISSIONS_PER_MINUTE"
)
def trial_submit(request: HttpRequest, code: str, trial_id: int) -> JsonResponse:
    participant = get_object_or_404(Participant.objects.select_related("study"), code=code)
    upload = request.FILES.get("map")
    if upload is None:
        return JsonResponse({"error": "no map file was sent (field 'map')"}, status=400)
    try:
        annotation_submit(
            participant=participant,
            trial_id=trial_id,
            submission=Submission(
                # one byte over the limit is enough for decode_map to refuse it: a huge
                # upload is never read into memory whole
                map_png=upload.read(settings.ANNOTATION_MAX_BYTES + 1),
                strokes_json=request.POST.get("strokes", "[]"),
                time_on_task_ms=request.POST.get("time_on_task_ms"),
                canvas_width=request.POST.get("canvas_width"),
                canvas_height=request.POST.get("canvas_height"),
                device_pixel_ratio=request.POST.get("device_pixel_ratio"),
                idempotency_key=request.POST.get("idempotency_key", ""),
                focus_events_json=request.POST.get("focus_events", "[]"),
                timed_out=request.POST.get("timed_out", ""),
            ),
        )
    except SubmissionError as error:
        answer = {"error": error.message}
        if error.status == 409:  # done already (a second tab, a repeated submit) or not the current trial
            answer["next_url"] = reverse("participant_home", args=[code]) + "?already_submitted"
        return JsonResponse(answer, status=error.status)
    return JsonResponse({"next_url": reverse("participant_home", args=[code])})
