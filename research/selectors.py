"""Reads for the researcher side: human maps and agreement with model maps."""

import json
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from django.db.models import Q

from analysis import summaries
from annotations.models import Annotation
from annotations.services import FLAG_CODES
from catalogue.models import Image
from explain.models import ComputeJob, Prediction
from explain.selectors import compute_job_progress
from study.models import Study, Trial
from study.services import study_compute_images

if TYPE_CHECKING:
    from research.scores import StudyScores

from research import metric_glossary
from research.inputs import (
    BOOTSTRAP_RESAMPLES,
    METRICS,
    NO_FILTERS,
    AnalysisFilters,
    analysed_annotations,
    study_saliency_maps,
)


def agreement_rows(
    *, study: Study, filters: AnalysisFilters = NO_FILTERS, scores: "StudyScores | None" = None
) -> list[dict]:
    """One row per image x model x method x metric (the tidy export). ``scores``: what
    ``research.scores.study_scores`` gives for these filters, when the caller has it already."""
    if scores is None:
        scores = _study_scores(study, filters)
    names = dict(study.image_set.images.values_list("pk", "name"))
    cue_conflict = study.target_policy == Study.TargetPolicy.SHAPE_AND_TEXTURE
    rows = []
    for saliency_map in study_saliency_maps(study=study, with_arrays=False):
        if saliency_map.pk not in scores.scores:  # its image (or original) has no analysed maps
            continue
        image = saliency_map.image
        for metric, value in zip(METRICS, scores.scores[saliency_map.pk]):
            rows.append(
                {
                    "study": study.slug,
                    "image": image.name,
                    "image_id": saliency_map.image_id,
                    "image_sha256": image.sha256,
                    "class_name": image.class_name,
                    "model": saliency_map.model.name,
                    "method": saliency_map.method,
                    "target_class": saliency_map.target_class,
                    "n_participants": scores.n_maps[image.variant_of_id or image.pk],
                    "metric": metric,
                    "value": float(value),
                    "method_params": json.dumps(saliency_map.params, sort_keys=True),
                    "weights_sha256": saliency_map.weights_sha256,
                    "map_id": saliency_map.pk,
                    "original": names.get(image.variant_of_id, ""),
                    "corruption": image.corruption,
                    "severity": image.severity,
                    "target": target_role(image, saliency_map.target_class, cue_conflict=cue_conflict),
                }
            )
    return rows


def _study_scores(study: Study, filters: AnalysisFilters) -> "StudyScores":
    from research.scores import study_scores  # research.scores reads through this module

    return study_scores(study=study, filters=filters)


def target_role(image: Image, target_class: int, *, cue_conflict: bool) -> str:
    """What a map's target class is for its image: "shape" / "texture" in cue-conflict
    studies, else "label" (the labelled class) or "predicted" (any other: the policies explain
    the predicted class when it is not the label)."""
    if cue_conflict and target_class == image.class_index:
        return "shape"
    if cue_conflict and target_class == image.texture_class_index:
        return "texture"
    return "label" if target_class == image.class_index else "predicted"


# The statistics across images are analysis.summaries' (pure, shared with the notebook
# analysis); these bind the platform's parameters or read its scores.
ceiling_scatter_series = summaries.ceiling_scatter_series
hierarchical_cis = summaries.hierarchical_cis  # seed 0, as agreement_summary's CI
pairwise_comparisons = summaries.pairwise_comparisons  # 9,999 sign flips, seed 0


def agreement_summary(rows: list[dict]) -> list[dict]:
    """``summaries.agreement_summary`` with BOOTSTRAP_RESAMPLES resamples, seed 0."""
    return summaries.agreement_summary(rows, n_resamples=BOOTSTRAP_RESAMPLES, seed=0)


def noise_ceiling(scores: "StudyScores") -> dict:
    """``summaries.noise_ceiling`` of the images' split-half ceilings (``scores`` as from
    ``research.scores.study_scores``; images with fewer than two analysed maps have none)."""
    return summaries.noise_ceiling(scores.ceilings)


def image_rows(*, study: Study, filters: AnalysisFilters = NO_FILTERS) -> list[dict]:
    """One row per image x model x method (x target class): the image's human data (analysed
    maps, coverage of the mean, split-half ceiling) beside the model map's Spearman, raw and
    divided by the image's ceiling. Only images with analysed maps; one without model maps
    gets a single row with the model columns empty, so that its ceiling is still there."""
    scores = _study_scores(study, filters)
    maps_by_image = defaultdict(list)
    for saliency_map in study_saliency_maps(study=study, with_arrays=False):
        if saliency_map.image_id in scores.n_maps:
            maps_by_image[saliency_map.image_id].append(saliency_map)
    no_model = {"model": "", "method": "", "target_class": None, "method_params": "", "weights_sha256": ""}
    nan = float("nan")
    spearman_column = METRICS.index("spearman")
    rows = []
    for image in Image.objects.filter(pk__in=list(scores.n_maps)).defer("target_mask_png").order_by("name"):
        split_half, spearman_brown = scores.ceilings.get(image.pk, (nan, nan))
        image_columns = {
            "study": study.slug,
            "image": image.name,
            "image_id": image.pk,
            "image_sha256": image.sha256,
            "class_name": image.class_name,
            "n_annotations": scores.n_maps[image.pk],
            "human_coverage": scores.coverage[image.pk],
            "ceiling_split_half": split_half,
            "ceiling_spearman_brown": spearman_brown,
        }
        if not maps_by_image[image.pk]:
            rows.append({**image_columns, **no_model, "spearman": nan, "spearman_normalised": nan})
        for saliency_map in maps_by_image[image.pk]:
            value = float(scores.scores[saliency_map.pk][spearman_column])
            rows.append(
                {
                    **image_columns,
                    "model": saliency_map.model.name,
                    "method": saliency_map.method,
                    "target_class": saliency_map.target_class,
                    "method_params": json.dumps(saliency_map.params, sort_keys=True),
                    "weights_sha256": saliency_map.weights_sha256,
                    "spearman": value,
                    # as the page normalises the study means; no ceiling (or none above 0), no ratio
                    "spearman_normalised": value / split_half if split_half > 0 else nan,
                }
            )
    return rows


def study_progress(*, study: Study) -> dict:
    """What a researcher needs to see while data and maps come in."""
    job = ComputeJob.objects.filter(study=study).first()
    maps = study_saliency_maps(study=study, with_arrays=False)
    unit_methods = defaultdict(set)
    for saliency_map in maps:
        unit_methods[saliency_map.image_id, saliency_map.model_id].add(saliency_map.method)
    return {
        "compute": compute_job_progress(job) if job else None,
        "participants": study.participants.count(),
        "finished_participants": study.participants.filter(finished_at__isnull=False).count(),
        "annotations": analysed_annotations(study=study).count(),
        "flagged_maps": analysed_annotations(study=study, filters=AnalysisFilters(include_flagged_maps=True))
        .exclude(flags=[])
        .count(),
        "flagged": study.participants.filter(flagged=True).count(),
        "job": job,
        "maps": len(maps),
        "expected_maps": study_compute_images(study).count() * study.model_specs.count() * len(study.methods),
        # the compute job's unit, image x model, is the page's one unit of progress
        "units_complete": sum(1 for methods in unit_methods.values() if set(study.methods) <= methods),
        "units_expected": study_compute_images(study).count() * study.model_specs.count(),
    }


def study_images(*, study: Study, filters: AnalysisFilters = NO_FILTERS) -> list[dict]:
    """Per image of the study's set: analysed annotation count and the study models'
    predictions (top-5)."""
    predictions = defaultdict(list)
    for prediction in Prediction.objects.filter(
        image__image_set=study.image_set, model__in=study.model_specs.all()
    ).select_related("model"):
        predictions[prediction.image_id].append(prediction)
    counts = defaultdict(int)
    for image_id in analysed_annotations(study=study, filters=filters).values_list(
        "trial__image_id", flat=True
    ):
        counts[image_id] += 1
    return [
        {"image": image, "n_annotations": counts[image.pk], "predictions": predictions[image.pk]}
        for image in study.image_set.images.order_by("name")
    ]


def gallery(
    *, study: Study, filters: AnalysisFilters = NO_FILTERS, scores: "StudyScores | None" = None
) -> list[dict]:
    """Per image shown to participants with at least ``filters.min_annotations`` analysed
    maps: annotation count, predictions, its role (practice and attention-check images are
    never analysed), its split-half ceiling and model maps, each with its scores (``scores``
    as from ``research.scores.study_scores``), target class name and IG completeness gap, for
    the results page. Variants have no painted maps of their own; the page's corruptions
    section covers them."""
    maps_by_image = defaultdict(list)
    for saliency_map in study_saliency_maps(study=study, with_arrays=False):
        maps_by_image[saliency_map.image_id].append(saliency_map)
    images = study_images(study=study, filters=filters)
    names = predicted_class_names(p for entry in images for p in entry["predictions"])
    entries = []
    for entry in images:
        image = entry["image"]
        if entry["n_annotations"] < filters.min_annotations or image.variant_of_id is not None:
            continue
        ceiling = scores.ceilings.get(image.pk) if scores is not None else None
        entries.append(
            {
                **entry,
                "role": image_role(image),
                "ceiling": ceiling[0] if ceiling else None,
                "maps": [
                    gallery_map(
                        saliency_map,
                        scores=scores,
                        names=names,
                        ceiling=ceiling[0] if ceiling else None,
                    )
                    for saliency_map in maps_by_image[image.pk]
                ],
            }
        )
    return entries


def image_role(image: Image) -> str:
    """Why an image is not analysed: "practice", "attention check", or "" for a main image."""
    if image.is_practice:
        return "practice"
    if image.is_attention_check:
        return "attention check"
    return ""


def gallery_map(
    saliency_map, *, scores: "StudyScores | None", names: dict, ceiling: float | None = None
) -> dict:
    """A model map with what the gallery shows beside it: its scores in glossary order (none
    when its image has no analysed painted maps), its target class's name and its IG
    completeness gap (None for methods without one)."""
    values = scores.scores.get(saliency_map.pk) if scores is not None else None
    gap = completeness_gap(saliency_map)
    spearman = float(values[METRICS.index("spearman")]) if values is not None else float("nan")
    return {
        "map": saliency_map,
        "scores": [] if values is None else scored_metrics(values),
        "target_name": target_class_name(saliency_map, names),
        "completeness_gap": gap,
        "completeness_percent": None if gap is None else 100 * gap,
        # as the images CSV: Spearman over the image's split-half ceiling, when that is above 0
        "normalised": spearman / ceiling if ceiling and ceiling > 0 and np.isfinite(spearman) else None,
    }


def scored_metrics(values) -> list[dict]:
    """One map's METRICS values as glossary entries with their value, headline first."""
    by_code = dict(zip(METRICS, (float(value) for value in values)))
    return [{"metric": entry, "value": by_code[entry.code]} for entry in metric_glossary.glossary(METRICS)]


def predicted_class_names(predictions) -> dict[tuple[int, int], str]:
    """(model id, class index) -> the class's name, from the models' top-5 predictions."""
    names = {}
    for prediction in predictions:
        for entry in prediction.top5:
            if entry.get("name") and entry.get("index") is not None:
                names[prediction.model_id, entry["index"]] = entry["name"]
    return names


def target_class_name(saliency_map, names: dict[tuple[int, int], str]) -> str:
    """The name of the class a map explains: the model's own class names when it has them,
    else the name its predictions give the class (``names`` from ``predicted_class_names``;
    ImageNet's list needs torchvision, which web processes never import), else its index."""
    index = saliency_map.target_class
    own = saliency_map.model.class_names
    if own and 0 <= index < len(own):
        return own[index]
    return names.get((saliency_map.model_id, index), f"class {index}")


# Integrated Gradients' paper (Sundararajan et al. 2017, section 3) suggests checking that the
# attributions add up to the output difference within 5 %.
COMPLETENESS_BOUND = 0.05


def completeness_gap(saliency_map) -> float | None:
    """|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)| as the method stored
    it: IG and the methods built on it (XRAI, Blur IG, Guided IG: the worst baseline's) and
    SmoothGrad over IG (the mean over its noisy copies); None for other methods."""
    details = saliency_map.details or {}
    for key in ("completeness_gap", "completeness_gap_mean"):
        value = details.get(key)
        if value is not None:
            return float(value)
    return None


def completeness_by_method(*, study: Study) -> list[dict]:
    """Per model x method that reports a completeness gap: maps, median and largest gap (NaN
    gaps, where the image and baseline score alike, left out), and how many exceed the bound."""
    gaps = defaultdict(list)
    for saliency_map in study_saliency_maps(study=study, with_arrays=False):
        gap = completeness_gap(saliency_map)
        if gap is not None:
            gaps[saliency_map.model.name, saliency_map.method].append(gap)
    rows = []
    for (model, method), values in sorted(gaps.items()):
        finite = np.array([value for value in values if np.isfinite(value)], dtype=float)
        rows.append(
            {
                "model": model,
                "method": method,
                "maps": len(values),
                "median": float(np.median(finite)) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
                "over_bound": int((finite > COMPLETENESS_BOUND).sum()),
            }
        )
    return rows


def summary_in_glossary_order(summary: list[dict]) -> list[dict]:
    """The summary rows grouped by metric, headline metric first (glossary order), each with
    its glossary entry under "info"."""
    for row in summary:
        row["info"] = metric_glossary.metric(row["metric"])
    return sorted(
        summary,
        key=lambda row: (
            metric_glossary.metric_rank(row["metric"]),
            row["metric"],
            row["model"],
            row["method"],
        ),
    )


def sample_size_warnings(rows: list[dict], scores: "StudyScores") -> list[str]:
    """The results page's warnings for too few images or participants (``rows``: the
    agreement rows of original images)."""
    image_ids = {row["image_id"] for row in rows}
    return metric_glossary.sample_size_warnings(
        n_images=len(image_ids), participants_per_image=[scores.n_maps[i] for i in sorted(image_ids)]
    )


def focus_event_summary(events: list, *, end_ms: float | None) -> dict:
    """Counts of focus/blur/hidden events and the total time the page was hidden (from each
    "hidden" to the next "visible", or to the submission when it was still hidden then)."""
    counts = defaultdict(int)
    hidden_ms = 0.0
    hidden_since = None
    for name, at_ms in events:
        counts[name] += 1
        if name == "hidden" and hidden_since is None:
            hidden_since = at_ms
        elif name == "visible" and hidden_since is not None:
            hidden_ms += max(0.0, at_ms - hidden_since)
            hidden_since = None
    if hidden_since is not None and end_ms is not None:
        hidden_ms += max(0.0, end_ms - hidden_since)
    return {
        "focus_count": counts["focus"],
        "blur_count": counts["blur"],
        "hidden_count": counts["hidden"],
        "hidden_ms": round(hidden_ms),
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def flag_codes_in_order(codes) -> list[str]:
    """The distinct flag codes, in ``FLAG_CODES`` order."""
    present = set(codes)
    return [code for code in FLAG_CODES if code in present]


def participant_flag_codes(*, study: Study) -> dict[int, list[str]]:
    """Participant id -> the distinct flag codes of all their maps (attention checks
    included), for the participants who have any."""
    codes: dict[int, list[str]] = defaultdict(list)
    for participant_id, flags in (
        Annotation.objects.filter(trial__participant__study=study)
        .exclude(flags=[])
        .values_list("trial__participant_id", "flags")
    ):
        codes[participant_id].extend(item["code"] for item in flags)
    return {participant_id: flag_codes_in_order(found) for participant_id, found in codes.items()}


def participant_trial_rows(*, study: Study) -> list[dict]:
    """One row per participant x image (every assigned trial, done or not), with recruiter
    ids (researchers pay and approve by them), timing, focus, coverage, attention outcome,
    the map's data-quality flags (and all of the participant's), and whether the map enters
    the analysis (with the default filters: flagged maps do not)."""
    analysed = set(analysed_annotations(study=study).values_list("trial_id", flat=True))
    participant_flags = participant_flag_codes(study=study)
    trials = (
        Trial.objects.filter(participant__study=study)
        .select_related("participant", "image", "annotation")
        .defer("annotation__map_png", "annotation__strokes", "image__target_mask_png")
        .order_by("participant__consented_at", "participant_id", "position")
    )
    rows = []
    for trial in trials:
        participant = trial.participant
        annotation = getattr(trial, "annotation", None)
        focus = (
            focus_event_summary(annotation.focus_events, end_ms=annotation.time_on_task_ms)
            if annotation
            else dict.fromkeys(("focus_count", "blur_count", "hidden_count", "hidden_ms"))
        )
        rows.append(
            {
                "study": study.slug,
                "participant_code": participant.code,
                "prolific_pid": participant.prolific_pid,
                "prolific_study_id": participant.prolific_study_id,
                "prolific_session_id": participant.prolific_session_id,
                "mturk_worker_id": participant.mturk_worker_id,
                "mturk_assignment_id": participant.mturk_assignment_id,
                "mturk_hit_id": participant.mturk_hit_id,
                "is_bot": participant.is_bot,
                "consented_at": _iso(participant.consented_at),
                "finished_at": _iso(participant.finished_at),
                "flagged": participant.flagged,
                "screened_out": participant.screened_out,
                "excluded": participant.excluded,
                "exclusion_reason": participant.exclusion_reason,
                "position": trial.position,
                "image": trial.image.name,
                "image_id": trial.image_id,
                "image_sha256": trial.image.sha256,
                "trial_kind": trial.kind,
                "status": trial.status,
                "shown_at": _iso(trial.shown_at),
                "completed_at": _iso(trial.completed_at),
                "time_on_task_ms": annotation.time_on_task_ms if annotation else None,
                "timed_out": annotation.timed_out if annotation else None,
                **focus,
                "coverage": annotation.coverage if annotation else None,
                "canvas_width": annotation.canvas_width if annotation else None,
                "canvas_height": annotation.canvas_height if annotation else None,
                "device_pixel_ratio": annotation.device_pixel_ratio if annotation else None,
                "attention_passed": trial.attention_passed,
                "flags": annotation.flags if annotation else [],
                "participant_flags": participant_flags.get(participant.pk, []),
                "analysed": trial.pk in analysed,
            }
        )
    return rows


REVIEW_FILTERS = {
    "all": Q(),
    "flagged": Q(flagged=True),
    # participants with at least one map the server flagged at submission
    "flagged_maps": Q(pk__in=Annotation.objects.exclude(flags=[]).values("trial__participant_id")),
    "excluded": Q(excluded=True),
    "bots": Q(is_bot=True),
}


def review_participants(*, study: Study, show: str = "all"):
    """The study's participants for the review page, oldest first; ``show`` is one of
    REVIEW_FILTERS."""
    if show not in REVIEW_FILTERS:
        raise ValueError(f"unknown filter {show!r}; one of {', '.join(REVIEW_FILTERS)}")
    return study.participants.filter(REVIEW_FILTERS[show]).order_by("consented_at", "pk")


def review_counts(*, study: Study) -> dict[str, int]:
    return {show: review_participants(study=study, show=show).count() for show in REVIEW_FILTERS}


def participant_cards(participants) -> list[dict]:
    """Per participant: status, timings, attention-check outcomes, their painted maps
    (annotation ids for the pictures, in trial order, each with its data-quality flags) and
    how many maps carry each flag."""
    participants = list(participants)
    trials = defaultdict(list)
    for trial in (
        Trial.objects.filter(participant__in=participants)
        .select_related("image", "annotation")
        .defer("annotation__map_png", "annotation__strokes", "image__target_mask_png")
        .order_by("participant_id", "position")
    ):
        trials[trial.participant_id].append(trial)
    cards = []
    for participant in participants:
        own = trials[participant.pk]
        if participant.screened_out:
            status = "screened out"
        elif participant.finished_at:
            status = "finished"
        else:
            status = "in progress"
        painted = [trial for trial in own if hasattr(trial, "annotation")]
        map_flags = [item for trial in painted for item in trial.annotation.flags]
        times = [t.annotation.time_on_task_ms for t in painted if t.annotation.time_on_task_ms is not None]
        cards.append(
            {
                "participant": participant,
                "status": status,
                "duration_s": (participant.finished_at - participant.consented_at).total_seconds()
                if participant.finished_at
                else None,
                "trials_done": sum(trial.status == Trial.Status.DONE for trial in own),
                "trials_total": len(own),
                "median_time_on_task_s": float(np.median(times)) / 1000 if times else None,
                "attention": [
                    {"image": trial.image.name, "passed": trial.attention_passed}
                    for trial in own
                    if trial.kind == Trial.Kind.ATTENTION
                ],
                "maps": [
                    {"trial": trial, "annotation": trial.annotation, "image": trial.image}
                    for trial in painted
                ],
                # per flag code: how many of the participant's maps carry it
                "flag_counts": [
                    (code, sum(item["code"] == code for item in map_flags))
                    for code in flag_codes_in_order(item["code"] for item in map_flags)
                ],
            }
        )
    return cards


def image_detail(*, study: Study, image: Image, filters: AnalysisFilters, scores: "StudyScores") -> dict:
    """One image's page: its role, analysed painted maps (oldest first, with the participant and
    time on task), the human mean's map count and split-half ceiling, and every model map of
    it with all its scores, target class and completeness gap."""
    annotations = list(
        analysed_annotations(study=study, filters=filters)
        .filter(trial__image=image)
        .select_related("trial__participant")
        .defer("map_png", "strokes")
        .order_by("created_at", "pk")
    )
    predictions = list(
        Prediction.objects.filter(image=image, model__in=study.model_specs.all()).select_related("model")
    )
    maps = [m for m in study_saliency_maps(study=study, with_arrays=False) if m.image_id == image.pk]
    names = predicted_class_names(
        Prediction.objects.filter(image__image_set=study.image_set, model__in=study.model_specs.all())
    )
    ceiling = scores.ceilings.get(image.pk)
    return {
        "image": image,
        "role": image_role(image),
        "annotations": annotations,
        "n_annotations": len(annotations),
        "ceiling": ceiling[0] if ceiling else None,
        "ceiling_spearman_brown": ceiling[1] if ceiling else None,
        "predictions": predictions,
        "maps": [
            gallery_map(m, scores=scores, names=names, ceiling=ceiling[0] if ceiling else None) for m in maps
        ],
    }


def ceiling_scatter_points(rows: list[dict], study_ceiling: dict, *, url=None) -> dict[str, list]:
    """``ceiling_scatter_series`` with each point's image: per model x method, a
    ``research.figures.Point`` per Spearman row whose image has a ceiling, labelled with the
    image's name, class explained and both values, and linked to ``url(image_id)``."""
    from research.figures import Point  # matplotlib, only where a chart is drawn

    series: dict[str, list] = {}
    for row in rows:
        image_ceiling = study_ceiling["per_image"].get(row["image_id"])
        if row["metric"] != "spearman" or image_ceiling is None:
            continue
        label = (
            f"{row['image']} · {row['model']} · {row['method']}: Spearman {row['value']:.3f}, "
            f"ceiling {image_ceiling[0]:.3f}"
        )
        series.setdefault(f"{row['model']} · {row['method']}", []).append(
            Point(image_ceiling[0], row["value"], label, url(row["image_id"]) if url else "")
        )
    return series
