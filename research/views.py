"""Researcher pages: progress, agreement table, gallery, exports. Staff only."""

import io
import math
import tempfile
import time
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from analysis import pic
from analysis.figures import Bar
from analysis.render import overlay_png, region_png
from analysis.severity_chart import severity_chart_svg
from annotations.models import Annotation
from catalogue.models import Image
from explain.models import ComputeJob, SaliencyMap
from explain.services import compute_job_cancel, compute_job_retry
from research import (
    exports,
    faithfulness,
    figures,
    inputs,
    metric_glossary,
    selectors,
    shortcut_selectors,
    variant_selectors,
)
from research.dataset_export import write_dataset_zip
from research.exports import write_agreement_csv, write_image_csv, write_participant_csv, write_study_zip
from research.forms import AnalysisFilterForm, BadParameters
from research.inputs import METRICS
from research.scores import participant_draws, study_scores
from study import services
from study.models import Participant, Study


@staff_member_required
def study_list(request: HttpRequest) -> HttpResponse:
    return render(request, "research/study_list.html", {"studies": Study.objects.order_by("-created_at")})


def _filters(request: HttpRequest) -> inputs.AnalysisFilters:
    """The results page's filters, for its exports and pictures; a malformed one is a 400
    naming it (BadParameters), not a silently unfiltered file."""
    return AnalysisFilterForm(request.GET).checked_filters()


def refuses_bad_parameters(*, page: bool = False):
    """A view whose query parameters may be refused (BadParameters): a 400 that names each bad
    one and the values it takes, as a page (``page``) or as plain text (downloads, pictures)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except BadParameters as error:
                if not page:
                    text = "\n".join(["Bad request:", *error.lines()]) + "\n"
                    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
                context = {
                    "errors": error.lines(),
                    "study": Study.objects.filter(slug=kwargs.get("slug")).first(),
                    "filter_form": AnalysisFilterForm(request.GET) if error.filters else None,
                }
                return render(request, "research/bad_parameters.html", context, status=400)

        return wrapper

    return decorate


def _inline_svg(svg: bytes) -> str:
    # our own matplotlib output, inlined so that it scales with the page
    return mark_safe(svg.decode())


@staff_member_required
@refuses_bad_parameters(page=True)
def study_results(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    filter_form = AnalysisFilterForm(request.GET)
    filters = filter_form.checked_filters()
    hierarchical = filter_form.cleaned_data["hierarchical"]
    # each image's numbers are computed once per state of its data; a long first computation
    # is spread over several reloads of a progress page instead of one request that times out
    started, budget = time.monotonic(), settings.RESULTS_TIME_BUDGET_S
    scores = study_scores(study=study, filters=filters, time_budget_s=budget)
    if not scores.complete:
        return _scoring_page(request, study, "Scoring the model maps against the human maps", scores)
    draws = None
    if hierarchical:
        left = max(0.0, budget - (time.monotonic() - started))
        draws = participant_draws(study=study, filters=filters, time_budget_s=left)
        if not draws.complete:
            return _scoring_page(
                request, study, "Resampling each image's participants (hierarchical CIs)", draws
            )
    all_rows = selectors.agreement_rows(study=study, filters=filters, scores=scores)
    rows = [row for row in all_rows if not row["original"]]  # variants: the Corruptions section
    summary = selectors.agreement_summary(rows)
    if draws is not None:
        cis = selectors.hierarchical_cis(rows, draws.draws)
        for row in summary:
            if row["metric"] == "spearman":
                row["hierarchical_low"], row["hierarchical_high"] = cis.get(
                    (row["model"], row["method"]), (float("nan"), float("nan"))
                )
    ceiling = selectors.noise_ceiling(scores)
    for row in summary:
        if row["metric"] == "spearman" and ceiling["spearman"] > 0:
            row["normalised"] = row["mean"] / ceiling["spearman"]
    summary = selectors.summary_in_glossary_order(summary)
    query = filters.query_string()
    chart = _spearman_chart(study, summary, ceiling)
    scatter, scatter_series = _scatter_chart(study, rows, ceiling, query)
    context = {
        "study": study,
        "progress": selectors.study_progress(study=study),
        "filter_form": filter_form,
        "filter_query": f"?{query}" if query else "",
        "summary": summary,
        "hierarchical": hierarchical,
        "comparisons": selectors.pairwise_comparisons(rows),
        "ceiling": ceiling,
        "chart": _inline_svg(figures.render(chart, "svg")) if chart else "",
        "scatter": _inline_svg(figures.svg_with_points(scatter, scatter_series)) if scatter else "",
        "rows": rows,
        "gallery": selectors.gallery(study=study, filters=filters, scores=scores),
        "glossary": metric_glossary.glossary(METRICS),
        "normalised_note": metric_glossary.NORMALISED,
        "ceiling_note": metric_glossary.NOISE_CEILING,
        "sample_warnings": selectors.sample_size_warnings(rows, scores),
        "completeness": selectors.completeness_by_method(study=study),
        "completeness_bound": selectors.COMPLETENESS_BOUND,
        "region_percents": inputs.REGION_PERCENTS,
        "participant_url": request.build_absolute_uri(f"/s/{study.slug}/"),
    }
    if study.image_set.images.filter(watermark_box__isnull=False).exists():
        context["watermark"] = shortcut_selectors.watermark_summary(
            shortcut_selectors.watermark_rows(study=study)
        )
        context["watermark_humans"] = shortcut_selectors.human_watermark_share(study=study)
    context.update(_variant_sections(study, all_rows))
    context["faithfulness"] = _faithfulness_section(study)
    return render(request, "research/results.html", context)


# --- faithfulness diagnostics (issue 15) -----------------------------------------------------

SKIP_WORDS = {
    pic.NOT_CONFIDENT: "the model was not confident on the image",
    pic.BLUR_KEEPS_INFORMATION: "blurring did not lower the information",
    pic.BLUR_KEEPS_PREDICTION: "blurring did not lower the prediction",
}
PIC_AXES = {"sic": "normalised softmax", "aic": "normalised accuracy"}


def _subject_label(subject: str) -> str:
    return "human mean" if subject == faithfulness.ds.HUMAN_MEAN else subject


def _num(value, digits: int = 3) -> str:
    """A table cell's number (``digits`` decimals, two significant digits below 0.01), or – where
    there is none (no image, or one image's interval)."""
    if value == math.inf:  # the largest ε: no patch bounds it
        return "∞"
    if value == -math.inf:  # the largest ε: the map satisfies the axiom at no ε
        return "none"
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if abs(value) >= 100:  # the largest ε a map satisfies can be in the thousands
        return f"{value:.0f}"
    if value != 0 and abs(value) < 0.01:  # probabilities of a model that is unsure: keep two digits
        return f"{value:.2g}"
    return f"{value:.{digits}f}"


def _with_ci(summary: dict, key: str = "mean") -> dict:
    """The value and its interval as "[low, high]", or no interval (fewer than two images)."""
    low, high = _num(summary["ci_low"]), _num(summary["ci_high"])
    return {"value": _num(summary[key]), "ci": "" if "–" in (low, high) else f"[{low}, {high}]"}


def _skipped_in_words(skipped: dict[str, int]) -> str:
    """PIC's skipped images in words, e.g. "2 skipped (blurring did not lower the prediction)";
    each reason's count when there are several."""
    if not skipped:
        return ""
    words = [(SKIP_WORDS.get(reason, reason), count) for reason, count in sorted(skipped.items())]
    reasons = words[0][0] if len(words) == 1 else "; ".join(f"{text}: {count}" for text, count in words)
    return f"{sum(skipped.values())} skipped ({reasons})"


def _faithfulness_entry(entry: dict) -> dict:
    """One table row of the faithfulness section: numbers as the page shows them."""
    shown = {"model": entry["model"], "subject": entry["subject"], "label": _subject_label(entry["subject"])}
    shown["images"] = entry["images"]
    for kind in ("sic", "aic"):
        shown[kind] = {
            **_with_ci(entry[kind], "auc"),
            "count": entry[kind]["count"],
            "skipped": _skipped_in_words(entry[kind]["skipped"]),
        }
    shown["insertion"] = {**_with_ci(entry["insertion"]), "n": entry["insertion"]["n_images"]}
    shown["deletion"] = {**_with_ci(entry["deletion"]), "n": entry["deletion"]["n_images"]}
    shown["localisation"] = (
        {
            "pixel_auc": _num(entry["pixel_auc"]["mean"]),
            "pointing_game": _num(entry["pointing_game"]["mean"], 2),
            "n": entry["pixel_auc"]["n_images"],
        }
        if entry["pixel_auc"]["n_images"]
        else None
    )
    shown["epsilon"] = "" if entry["epsilon"] == "" else f"{entry['epsilon']:g}"
    shown["violation_share"] = _with_ci(entry["violation_share"])
    shown["largest_epsilon"] = _num(entry["largest_epsilon_median"])
    cascade = entry["randomisation"]
    if cascade:
        last = cascade[-1]
        shown["randomisation"] = {
            "spearman": _num(last["spearman"]),
            "layers": last["layers_randomised"],
            "total": last["layers_total"],
            "all_layers": last["layers_randomised"] == last["layers_total"],
            "images": last["images"],
            "passes": entry["randomisation_passes"],
        }
    return shown


def _pic_chart(study: Study, summary: list[dict], kind: str):
    """SIC or AIC median curves, one panel per model, or None when no image was scored."""
    panels: dict[str, list] = {}
    for entry in summary:
        curve = entry[kind]
        panels.setdefault(entry["model"], []).append(
            (_subject_label(entry["subject"]), curve["curve_x"], curve["curve_y"])
        )
    if not any(len(xs) for lines in panels.values() for _, xs, _ in lines):
        return None
    title = f"{study.title}: {kind.upper()} median curves"
    return figures.pic_chart(panels, y_label=PIC_AXES[kind], title=title, gid=kind)


def _randomisation_chart(study: Study, summary: list[dict]):
    lines = [
        (
            f"{entry['model']} · {entry['subject']}",
            [step["layers_randomised"] for step in entry["randomisation"]],
            [step["spearman"] for step in entry["randomisation"]],
        )
        for entry in summary
        if entry["randomisation"]
    ]
    if not lines:
        return None
    title = f"{study.title}: cascading randomisation"
    return figures.randomisation_chart(lines, threshold=faithfulness.RANDOMISATION_PASS_BELOW, title=title)


def _faithfulness_section(study: Study) -> dict:
    """The "Faithfulness" section's data: its table, charts and how many results are missing."""
    try:
        settings = study.diagnostic_settings()
    except ValueError as error:
        return {"error": str(error)}
    diagnostics = faithfulness.study_diagnostics(study=study)
    randomised = len(faithfulness.randomisation_image_ids(study, settings))
    section = {
        "settings": settings,
        "missing": faithfulness.diagnostics_missing(diagnostics, randomisation_images=randomised),
    }
    if not diagnostics["rows"]:
        return section
    summary = faithfulness.diagnostics_summary(diagnostics)
    section["entries"] = [_faithfulness_entry(entry) for entry in summary]
    section["wide_charts"] = len({entry["model"] for entry in summary}) > 1  # a panel per model
    for kind in ("sic", "aic"):
        chart = _pic_chart(study, summary, kind)
        section[kind] = mark_safe(figures.inline(figures.render(chart, "svg"))) if chart else ""
    chart = _randomisation_chart(study, summary)
    section["randomisation"] = mark_safe(figures.inline(figures.render(chart, "svg"))) if chart else ""
    return section


SCATTER_AXES = {
    "x_label": "the image's split-half noise ceiling (Spearman)",
    "y_label": "model map's Spearman with the human mean",
}


def _spearman_chart(study: Study, summary: list[dict], ceiling: dict):
    """The bar chart of mean Spearman per model x method (a matplotlib figure), or None."""
    bars = [
        Bar(f"{r['model']} · {r['method']}", r["mean"], r["ci_low"], r["ci_high"])
        for r in summary
        if r["metric"] == "spearman"
    ]
    if not bars:
        return None
    title = f"{study.title}: agreement with the human mean map"
    return figures.bar_chart(
        bars, metric="Spearman rank correlation", ceiling=ceiling["spearman"], title=title
    )


def _scatter_chart(study: Study, rows: list[dict], ceiling: dict, query: str):
    """(The ceiling scatter as a matplotlib figure, or None; its points, linked to their
    images' pages)."""

    def image_url(image_id: int) -> str:
        url = reverse("research_image_detail", args=[study.slug, image_id])
        return f"{url}?{query}" if query else url

    series = selectors.ceiling_scatter_points(rows, ceiling, url=image_url)
    if not series:
        return None, series
    title = f"{study.title}: each image's agreement against its noise ceiling"
    return figures.scatter_chart(series, title=title, **SCATTER_AXES), series


def _figure_response(data: bytes, fmt: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=figures.FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


CHARTS = ("spearman", "ceiling-scatter", "sic", "aic", "randomisation")
FAITHFULNESS_CHARTS = ("sic", "aic", "randomisation")


@staff_member_required
@refuses_bad_parameters()
def study_chart(request: HttpRequest, slug: str, chart: str, fmt: str) -> HttpResponse:
    """A chart of the results page as a file for a paper: SVG or PNG, white background, title."""
    study = get_object_or_404(Study, slug=slug)
    if chart not in CHARTS or fmt not in figures.FORMATS:
        raise Http404(f"charts: {', '.join(CHARTS)}; formats: {', '.join(figures.FORMATS)}")
    if chart in FAITHFULNESS_CHARTS:
        summary = faithfulness.diagnostics_summary(faithfulness.study_diagnostics(study=study))
        figure = (
            _randomisation_chart(study, summary)
            if chart == "randomisation"
            else _pic_chart(study, summary, chart)
        )
        if figure is None:
            raise Http404("no faithfulness diagnostics for this chart yet: compute them first")
        return _figure_response(figures.render(figure, fmt), fmt, f"{study.slug}-{chart}")
    filters = _filters(request)
    scores = study_scores(study=study, filters=filters)
    rows = [
        r for r in selectors.agreement_rows(study=study, filters=filters, scores=scores) if not r["original"]
    ]
    ceiling = selectors.noise_ceiling(scores)
    if chart == "spearman":
        figure = _spearman_chart(study, selectors.agreement_summary(rows), ceiling)
    else:
        figure, _ = _scatter_chart(study, rows, ceiling, filters.query_string())
    if figure is None:
        raise Http404("no agreement yet: the chart needs painted maps and model maps")
    return _figure_response(figures.render(figure, fmt), fmt, f"{study.slug}-{chart}")


@staff_member_required
@refuses_bad_parameters()
def study_image_figure(request: HttpRequest, slug: str, image_id: int, fmt: str) -> HttpResponse:
    """One image's gallery as a figure: the image, the human mean and every model map of the
    study on one colour map with a colour bar, each map titled with its Spearman."""
    import numpy as np

    study = get_object_or_404(Study, slug=slug)
    image = get_object_or_404(Image, pk=image_id, image_set=study.image_set)
    if fmt not in figures.FORMATS:
        raise Http404(f"formats: {', '.join(figures.FORMATS)}")
    filters = _filters(request)
    scores = study_scores(study=study, filters=filters)
    mean, n_maps = inputs.human_mean(study=study, image=image, filters=filters)
    panels = []
    for saliency_map in inputs.study_saliency_maps(study=study, with_arrays=False):
        if saliency_map.image_id != image.pk:
            continue
        values = scores.scores.get(saliency_map.pk)
        score = f"\nSpearman {float(values[METRICS.index('spearman')]):.3f}" if values is not None else ""
        panels.append((f"{saliency_map.model.name}\n{saliency_map.method}{score}", saliency_map.map_array()))
    picture = np.asarray(_picture(image).convert("RGB"))
    label = image.class_name or "no label"
    title = f"{image.name} ({label}): human mean of {n_maps} map{'s' if n_maps != 1 else ''}"
    figure = figures.image_panel(picture, mean, panels, title=title)
    return _figure_response(figures.render(figure, fmt), fmt, f"{study.slug}-{image.name}")


def _scoring_page(request: HttpRequest, study: Study, task: str, progress) -> HttpResponse:
    """The page shown while the results' numbers are still being computed: how far, and a reload."""
    context = {"study": study, "task": task, "progress": progress, "budget_s": settings.RESULTS_TIME_BUDGET_S}
    return render(request, "research/scoring.html", context)


def _variant_sections(study: Study, rows: list[dict]) -> dict:
    """The "Corruptions" section's data when the study's set has variants, the "Cue
    conflict" section's when the study explains shape and texture."""
    sections = {}
    if variant_selectors.has_variants(study):
        changes = variant_selectors.prediction_changes(study=study)
        curves = variant_selectors.severity_curves(rows)
        chart = severity_chart_svg(curves, y_label="mean Spearman with the original's human mean")
        sections["corruptions"] = {
            "chart": _inline_svg(chart) if curves else "",
            "changes": changes,
            "flips": variant_selectors.flip_summary(changes),
        }
    if variant_selectors.is_cue_conflict(study):
        sections["cue_conflict"] = {
            "agreement": variant_selectors.cue_conflict_agreement(rows),
            "shape_bias": variant_selectors.shape_bias(study=study),
        }
    return sections


def _csv_download(study: Study, name: str) -> HttpResponse:
    """An empty text/csv response saved as SLUG-NAME.csv."""
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-{name}.csv"'
    return response


@staff_member_required
def watermark_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One row per map of a watermarked image: its mass share on the watermark and control box."""
    study = get_object_or_404(Study, slug=slug)
    response = _csv_download(study, "watermark")
    exports.write_watermark_csv(study=study, out=response)
    return response


@staff_member_required
def study_compute(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: what computing would do (units, those stored already, an estimate of the time) and
    a button; POST: queue it, unless a job of the study is still running."""
    from study.compute_estimate import study_compute_estimate

    study = get_object_or_404(Study, slug=slug)
    running = _running_job(study)
    if request.method == "POST":
        return _queue_unless_running(
            request,
            running,
            lambda: services.study_maps_compute(study=study),
            "",
            reverse("research_results", args=[slug]),
        )
    context = {"study": study, "estimate": study_compute_estimate(study=study), "running": running}
    return render(request, "research/compute_confirm.html", context)


def _running_job(study: Study) -> ComputeJob | None:
    return ComputeJob.objects.filter(study=study, finished_at__isnull=True).first()


def _queue_unless_running(request: HttpRequest, running, queue, what: str, then: str) -> HttpResponse:
    """A compute page's POST: refuse while a job of the study runs, else queue (a ValueError
    becomes the message); back to the results."""
    if running is not None:
        messages.error(request, f"Job {running.pk} is still running: wait for it, or cancel it first.")
        return redirect(then)
    try:
        job = queue()
    except ValueError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Queued {job.total} image x model units{what}.")
    return redirect(then)


@staff_member_required
def study_diagnostics_compute(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: what computing the faithfulness diagnostics would do (the study's settings in words,
    images x models, the randomisation's images, the results stored already) and a button;
    POST: queue the job (maps first where missing), unless a job of the study is still running."""
    study = get_object_or_404(Study, slug=slug)
    running = _running_job(study)
    if request.method == "POST":
        return _queue_unless_running(
            request,
            running,
            lambda: faithfulness.study_diagnostics_compute(study=study),
            ": maps where missing, then the diagnostics",
            f"{reverse('research_results', args=[slug])}#faithfulness",
        )
    context = {"study": study, "running": running}
    try:
        settings = study.diagnostic_settings()
    except ValueError as error:
        context["error"] = str(error)
        return render(request, "research/diagnostics_compute.html", context)
    diagnostics = faithfulness.study_diagnostics(study=study)
    randomised = faithfulness.randomisation_image_ids(study, settings)
    context.update(
        settings=settings,
        checks=faithfulness.settings_in_words(settings),
        images=diagnostics["images"],
        models=list(study.model_specs.order_by("name").values_list("name", flat=True)),
        human_images=diagnostics["human_images"],
        randomisation_images=list(
            Image.objects.filter(pk__in=randomised).order_by("name").values_list("name", flat=True)
        ),
        missing=faithfulness.diagnostics_missing(diagnostics, randomisation_images=len(randomised)),
        estimate=faithfulness.diagnostics_time_estimate(
            study=study, diagnostics=diagnostics, randomisation_images=len(randomised)
        ),
    )
    return render(request, "research/diagnostics_compute.html", context)


@staff_member_required
def faithfulness_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One row per image x model x subject (a method or the human mean): every check's score."""
    study = get_object_or_404(Study, slug=slug)
    response = _csv_download(study, "faithfulness")
    faithfulness.write_diagnostics_csv(out=response, diagnostics=faithfulness.study_diagnostics(study=study))
    return response


@staff_member_required
def randomisation_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """One row per image x model x method x evaluated step of the cascading randomisation."""
    study = get_object_or_404(Study, slug=slug)
    response = _csv_download(study, "randomisation")
    faithfulness.write_randomisation_csv(
        out=response, diagnostics=faithfulness.study_diagnostics(study=study)
    )
    return response


@staff_member_required
@require_POST
def compute_job_retry_failed(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    job = get_object_or_404(ComputeJob, pk=job_id, study__slug=slug)
    try:
        unit_ids = compute_job_retry(job_id=job.pk)
    except ValueError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Re-queued {len(unit_ids)} unit(s) of job {job.pk}.")
    return redirect("research_results", slug=slug)


@staff_member_required
@require_POST
def compute_job_cancel_pending(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    job = get_object_or_404(ComputeJob, pk=job_id, study__slug=slug)
    try:
        cancelled = compute_job_cancel(job_id=job.pk)
    except ValueError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Cancelled job {job.pk}: {cancelled} pending units; running units finish.")
    return redirect("research_results", slug=slug)


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@staff_member_required
@refuses_bad_parameters()
def agreement_csv(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    buffer = io.StringIO()
    write_agreement_csv(study=study, out=buffer, filters=_filters(request))
    return _csv_response(buffer.getvalue(), f"{study.slug}-agreement.csv")


@staff_member_required
@refuses_bad_parameters()
def images_csv(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    buffer = io.StringIO()
    write_image_csv(study=study, out=buffer, filters=_filters(request))
    return _csv_response(buffer.getvalue(), f"{study.slug}-images.csv")


@staff_member_required
def participants_csv(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    buffer = io.StringIO()
    write_participant_csv(study=study, out=buffer)
    return _csv_response(buffer.getvalue(), f"{study.slug}-participants.csv")


@staff_member_required
@refuses_bad_parameters()
def study_zip(request: HttpRequest, slug: str) -> FileResponse:
    study = get_object_or_404(Study, slug=slug)
    filters = _filters(request)
    # A temporary file, not memory: the maps of a large study can run to hundreds of MB.
    archive = tempfile.TemporaryFile()
    write_study_zip(study=study, out=archive, filters=filters)
    archive.seek(0)
    return FileResponse(
        archive, as_attachment=True, filename=f"{study.slug}-export.zip", content_type="application/zip"
    )


@staff_member_required
@refuses_bad_parameters()
def study_dataset_zip(request: HttpRequest, slug: str) -> FileResponse:
    """The data set to publish: stimuli, every painted map and stroke log, model maps, tables."""
    study = get_object_or_404(Study, slug=slug)
    filters = _filters(request)
    archive = tempfile.TemporaryFile()  # written and sent a chunk at a time, never whole in memory
    write_dataset_zip(study=study, out=archive, filters=filters)
    archive.seek(0)
    return FileResponse(
        archive, as_attachment=True, filename=f"{study.slug}-dataset.zip", content_type="application/zip"
    )


def _png(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response


def _picture(image: Image):
    from PIL import Image as PILImage

    with image.file.open("rb") as handle:
        picture = PILImage.open(handle)
        picture.load()
    return picture


@staff_member_required
def image_thumbnail(request: HttpRequest, image_id: int) -> HttpResponse:
    image = get_object_or_404(Image, pk=image_id)
    return _png(overlay_png(_picture(image), None))


@staff_member_required
@refuses_bad_parameters()
def human_mean_png(request: HttpRequest, slug: str, image_id: int) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    image = get_object_or_404(Image, pk=image_id, image_set=study.image_set)
    mean, _ = inputs.human_mean(study=study, image=image, filters=_filters(request))
    return _png(
        overlay_png(_picture(image), mean if mean is not None and mean.max() > 0 else None, alpha=0.75)
    )


REGION_WIDTH = 128  # the gallery shows two regions under each 256-pixel map


def _region_percent(percent: int) -> int:
    if not 1 <= percent <= 100:
        raise Http404("the region is the top 1 to 100 %")
    return percent


@staff_member_required
@refuses_bad_parameters()
def human_region_png(request: HttpRequest, slug: str, image_id: int, percent: int) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    image = get_object_or_404(Image, pk=image_id, image_set=study.image_set)
    mask = inputs.human_mean_region(
        study=study, image=image, percent=_region_percent(percent), filters=_filters(request)
    )
    return _png(region_png(_picture(image), mask, width=REGION_WIDTH))


@staff_member_required
def saliency_map_png(request: HttpRequest, map_id: int) -> HttpResponse:
    saliency_map = get_object_or_404(SaliencyMap.objects.select_related("image"), pk=map_id)
    return _png(overlay_png(_picture(saliency_map.image), saliency_map.map_array(), alpha=0.75))


@staff_member_required
def saliency_map_region_png(request: HttpRequest, map_id: int, percent: int) -> HttpResponse:
    saliency_map = get_object_or_404(SaliencyMap.objects.select_related("image"), pk=map_id)
    mask = inputs.model_map_region(saliency_map, percent=_region_percent(percent))
    return _png(region_png(_picture(saliency_map.image), mask, width=REGION_WIDTH))


REVIEW_PAGE_SIZE = 25  # participant cards per page; each shows all of their maps
REVIEW_MAP_WIDTH = 192
REVIEW_DONE = {"flag": "flagged", "unflag": "unflagged", "exclude": "excluded", "include": "included again"}


def _review_show(value: str) -> str:
    if value not in selectors.REVIEW_FILTERS:
        raise BadParameters({"show": [f"{value!r} is not one of {', '.join(selectors.REVIEW_FILTERS)}"]})
    return value


@staff_member_required
@refuses_bad_parameters(page=True)
def study_review(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    show = _review_show(request.GET.get("show", "all"))
    page = Paginator(selectors.review_participants(study=study, show=show), REVIEW_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "study": study,
        "show": show,
        "counts": selectors.review_counts(study=study),
        "page": page,
        "cards": selectors.participant_cards(page.object_list),
        "reason_max": Participant._meta.get_field("exclusion_reason").max_length,
    }
    return render(request, "research/review.html", context)


@staff_member_required
@require_POST
@refuses_bad_parameters(page=True)
def participant_review_action(request: HttpRequest, slug: str, participant_id: int) -> HttpResponse:
    """Flag, unflag, exclude (with a reason) or include one participant; back to their card."""
    participant = get_object_or_404(Participant, pk=participant_id, study__slug=slug)
    show = _review_show(request.POST.get("show", "all"))
    action = request.POST.get("action")
    try:
        if action == "flag":
            services.participant_set_flagged(participant=participant, flagged=True)
        elif action == "unflag":
            services.participant_set_flagged(participant=participant, flagged=False)
        elif action == "exclude":
            services.participant_exclude(participant=participant, reason=request.POST.get("reason", ""))
        elif action == "include":
            services.participant_include(participant=participant)
        else:
            raise ValueError(f"unknown action {action!r}")
    except ValueError as error:
        messages.error(request, f"Participant {participant.pk}: {error}")
    else:
        messages.success(request, f"Participant {participant.pk} {REVIEW_DONE[action]}.")
    page = request.POST.get("page", "")
    query = f"?show={show}" + (f"&page={page}" if page.isdigit() else "")
    return redirect(f"{reverse('research_review', args=[slug])}{query}#participant-{participant.pk}")


@staff_member_required
def annotation_png(request: HttpRequest, annotation_id: int) -> HttpResponse:
    """A participant's painted map over the image, small, for the review page."""
    annotation = get_object_or_404(Annotation.objects.select_related("trial__image"), pk=annotation_id)
    values = annotation.map_array()
    return _png(
        overlay_png(
            _picture(annotation.trial.image),
            values if values.max() > 0 else None,
            width=REVIEW_MAP_WIDTH,
            alpha=0.75,
        )
    )


@staff_member_required
@refuses_bad_parameters(page=True)
def study_image_detail(request: HttpRequest, slug: str, image_id: int) -> HttpResponse:
    """One image of the study: every analysed painted map, the human mean, each model map with
    all its scores, its target class and completeness gap, and the image's noise ceiling."""
    study = get_object_or_404(Study, slug=slug)
    image = get_object_or_404(Image, pk=image_id, image_set=study.image_set)
    filters = _filters(request)
    scores = study_scores(study=study, filters=filters, time_budget_s=settings.RESULTS_TIME_BUDGET_S)
    if not scores.complete:
        return _scoring_page(request, study, "Scoring the model maps against the human maps", scores)
    query = filters.query_string()
    context = {
        "study": study,
        "detail": selectors.image_detail(study=study, image=image, filters=filters, scores=scores),
        "glossary": metric_glossary.glossary(METRICS),
        "filter_query": f"?{query}" if query else "",
        "completeness_bound": selectors.COMPLETENESS_BOUND,
        "figure_query": f"?{query}" if query else "",
    }
    return render(request, "research/image_detail.html", context)
