"""API views: parse, call a selector or export, serialise. Staff only (settings.REST_FRAMEWORK)."""

import tempfile

from django import forms
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import codec
from annotations.models import Annotation
from catalogue.models import Image
from config.version import code_version
from explain.models import SaliencyMap
from research import inputs, selectors
from research.api import serializers
from research.dataset_export import annotation_png16, write_dataset_zip
from research.exports import (
    diagnostic_json_row,
    diagnostics_manifest,
    diagnostics_summary_json,
    model_map_file_names,
    randomisation_json_row,
    safe_file_stem,
    write_study_zip,
)
from research.faithfulness import study_diagnostics
from research.forms import COUNT_VALUES, FLAG_VALUES, AnalysisFilterForm, FlagField
from study.models import Study

NPY_MEDIA_TYPE = "application/x-npy"
NOT_FOUND = OpenApiResponse(description="No such study, image or map (or no analysed map yet).")
BAD_FILTER = OpenApiResponse(description="A filter parameter is not valid; the body names it.")
# The results page's filters, as query parameters of every endpoint that uses human maps.
FILTER_PARAMETERS = [
    OpenApiParameter(
        "exclude_flagged",
        bool,
        description="Leave out participants flagged by an attention check (1, true, yes or on; "
        "0, false, no, off or absent: not; anything else is a 400).",
    ),
    OpenApiParameter(
        "min_annotations",
        {"type": "integer", "minimum": 0},  # a negative count is a 400, as the schema now says
        description="Only images with at least this many analysed maps (0 = all).",
    ),
    OpenApiParameter(
        "include_flagged_maps",
        bool,
        description="Include maps the server flagged at submission (blank, too fast, strokes that do "
        "not match the map, an impossible timeout); left out by default (1, true, yes or on to include; "
        "anything but those and 0, false, no, off is a 400).",
    ),
]


class DownloadNegotiation(BaseContentNegotiation):
    """File downloads ignore the Accept header: success is the file, errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug)


def _npy_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=NPY_MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _filters(request: Request) -> inputs.AnalysisFilters:
    """The filters in the query string; a 400 naming the bad parameter when one is invalid."""
    form = AnalysisFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError({field: [str(e) for e in errors] for field, errors in form.errors.items()})
    return form.filters()


def _provenance(study: Study, rows: list[dict], filters: inputs.AnalysisFilters | None) -> dict:
    """``filters``: those that chose the human maps; None for tables that use none."""
    return {
        "study": study.slug,
        "code_version": code_version(),
        "analysis_params": inputs.ANALYSIS_PARAMS if filters is None else inputs.analysis_params(filters),
        "count": len(rows),
        "rows": rows,
    }


STUDIES = Study.objects.select_related("image_set").prefetch_related("model_specs").order_by("-created_at")


class StudyListView(ListAPIView):
    """All studies, newest first."""

    queryset = STUDIES
    serializer_class = serializers.StudySerializer


class StudyDetailView(RetrieveAPIView):
    """One study: design, models, methods and every method parameter."""

    queryset = STUDIES
    serializer_class = serializers.StudySerializer
    lookup_field = "slug"


class StudyImagesView(APIView):
    @extend_schema(
        summary="The study's images with each model's top-5 prediction",
        parameters=FILTER_PARAMETERS,
        responses={200: serializers.StudyImageSerializer(many=True), 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        filters = _filters(request)
        query = f"?{filters.query_string()}" if filters.query_string() else ""
        entries = [
            {
                **entry,
                "human_mean_url": request.build_absolute_uri(
                    reverse("api:human-mean", args=[study.slug, entry["image"].pk]) + query
                )
                if entry["n_annotations"]
                else None,
            }
            for entry in selectors.study_images(study=study, filters=filters)
        ]
        return Response(serializers.StudyImageSerializer(entries, many=True).data)


class HumanMeanMapView(APIView):
    content_negotiation_class = DownloadNegotiation

    @extend_schema(
        operation_id="human_mean_npy",
        summary="Mean human map of an image (.npy)",
        description="float32 (H,W) at the image's resolution: the per-pixel mean of the analysed "
        "participants' maps, each min-max normalised to [0,1] first. Load with "
        "`numpy.load(io.BytesIO(body))`. The header X-Participants gives how many maps it averages.",
        parameters=FILTER_PARAMETERS,
        responses={(200, NPY_MEDIA_TYPE): OpenApiTypes.BINARY, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str, image_id: int) -> HttpResponse:
        study = _study(slug)
        image = get_object_or_404(Image, pk=image_id, image_set=study.image_set)
        mean, n_participants = inputs.human_mean(study=study, image=image, filters=_filters(request))
        if mean is None:
            raise NotFound("no analysed map of this image yet")
        response = _npy_response(codec.npy_bytes(mean.astype("float32")), f"{safe_file_stem(image.name)}.npy")
        response["X-Participants"] = str(n_participants)
        return response


class AgreementView(APIView):
    @extend_schema(
        summary="Agreement rows: image x model x method x metric",
        parameters=FILTER_PARAMETERS,
        responses={200: serializers.AgreementSerializer, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        filters = _filters(request)
        rows = selectors.agreement_rows(study=study, filters=filters)
        return Response(serializers.AgreementSerializer(_provenance(study, rows, filters)).data)


class ImageStatsView(APIView):
    @extend_schema(
        summary="Per image x model x method: human data, split-half ceiling, Spearman raw and normalised",
        description="The images CSV of the results page as JSON.",
        parameters=FILTER_PARAMETERS,
        responses={200: serializers.ImageStatsSerializer, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        filters = _filters(request)
        rows = selectors.image_rows(study=study, filters=filters)
        return Response(serializers.ImageStatsSerializer(_provenance(study, rows, filters)).data)


class ParticipantTrialsView(APIView):
    @extend_schema(
        summary="Participant x image rows (every assigned trial)",
        responses={200: serializers.ParticipantTrialsSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        rows = selectors.participant_trial_rows(study=study)
        return Response(serializers.ParticipantTrialsSerializer(_provenance(study, rows, None)).data)


class ModelMapListView(APIView):
    @extend_schema(
        summary="The study's model maps (metadata and .npy URL)",
        responses={200: serializers.ModelMapSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        maps = inputs.study_saliency_maps(study=study, with_arrays=False)
        context = {"request": request, "study": study}
        return Response(serializers.ModelMapSerializer(maps, many=True, context=context).data)


class ModelMapView(APIView):
    content_negotiation_class = DownloadNegotiation

    @extend_schema(
        operation_id="model_map_npy",
        summary="One model map (.npy)",
        description="float32 (H,W) at the model's input resolution, the method's raw output. "
        "Load with `numpy.load(io.BytesIO(body))`.",
        responses={(200, NPY_MEDIA_TYPE): OpenApiTypes.BINARY, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str, map_id: int) -> HttpResponse:
        study = _study(slug)
        # Only maps that belong to this study (its images, models, methods and parameters).
        file_names = model_map_file_names(inputs.study_saliency_maps(study=study, with_arrays=False))
        if map_id not in file_names:
            raise NotFound("no such map in this study")
        filename = file_names[map_id].removeprefix("models/")  # the name it has in the study ZIP
        return _npy_response(bytes(SaliencyMap.objects.get(pk=map_id).map_npy), filename)


class StudyExportView(APIView):
    content_negotiation_class = DownloadNegotiation

    @extend_schema(
        operation_id="study_export_zip",
        summary="The study ZIP (maps, CSVs, manifest.json), as on the results page",
        parameters=FILTER_PARAMETERS,
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> FileResponse:
        study = _study(slug)
        filters = _filters(request)
        archive = tempfile.TemporaryFile()  # maps of a large study can run to hundreds of MB
        write_study_zip(study=study, out=archive, filters=filters)
        archive.seek(0)
        return FileResponse(
            archive, as_attachment=True, filename=f"{study.slug}-export.zip", content_type="application/zip"
        )


class CurvesForm(forms.Form):
    curves = FlagField()


class DiagnosticsView(APIView):
    @extend_schema(
        summary="The study's faithfulness diagnostics: rows, randomisation steps and summaries",
        description="As diagnostics.csv, randomisation.csv, diagnostics_summary.json and the manifest's "
        '"diagnostics" in the ZIPs: the stored results that match the study\'s current settings, maps '
        "and human means (the subject human_mean uses the default filters). Numbers are numbers; a "
        "missing or non-finite value is null (largest_epsilon_unbounded marks an unbounded epsilon).",
        parameters=[
            OpenApiParameter(
                "curves",
                bool,
                description="Include the summary's median curves (curve_x, curve_y); long (1, true, yes "
                "or on; 0, false, no, off or absent: not; anything else is a 400).",
            )
        ],
        responses={200: serializers.DiagnosticsSerializer, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        form = CurvesForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({field: [str(e) for e in errors] for field, errors in form.errors.items()})
        diagnostics = study_diagnostics(study=study)
        manifest = diagnostics_manifest(diagnostics)
        payload = {
            "study": study.slug,
            "code_version": code_version(),
            "settings": manifest["settings"],
            "checks": manifest["checks"],
            "expected": manifest["counts"]["expected"],
            "count": len(diagnostics["rows"]),
            "rows": [diagnostic_json_row(row) for row in diagnostics["rows"]],
            "randomisation_count": len(diagnostics["randomisation"]),
            "randomisation": [randomisation_json_row(row) for row in diagnostics["randomisation"]],
            "summary": diagnostics_summary_json(diagnostics, curves=form.cleaned_data["curves"]),
        }
        return Response(serializers.DiagnosticsSerializer(payload).data)


def _study_annotations(study: Study):
    """Every painted map of the study (practice, attention checks and left-out maps too)."""
    return (
        Annotation.objects.filter(trial__participant__study=study)
        .select_related("trial__participant", "trial__image")
        .order_by("pk")
    )


def _analysed_ids(study: Study, filters: inputs.AnalysisFilters) -> set[int]:
    """The maps in a human mean under ``filters`` (min_annotations counts per image)."""
    by_image: dict[int, list[int]] = {}
    for pk, image_id in inputs.analysed_annotations(study=study, filters=filters).values_list(
        "pk", "trial__image_id"
    ):
        by_image.setdefault(image_id, []).append(pk)
    return {pk for ids in by_image.values() if len(ids) >= max(1, filters.min_annotations) for pk in ids}


def _study_annotation(slug: str, annotation_id: int) -> tuple[Study, Annotation]:
    study = _study(slug)
    return study, get_object_or_404(_study_annotations(study), pk=annotation_id)


class ParticipantMapListView(APIView):
    @extend_schema(
        summary="Every participant's painted map: metadata and the URLs of the map and its stroke log",
        description="One entry per painted map of the study (practice and attention-check maps, and "
        "maps left out of the analysis, too: `analysed` says whether a map is in its image's human "
        "mean under the filters given).",
        parameters=FILTER_PARAMETERS,
        responses={200: serializers.ParticipantMapSerializer(many=True), 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> Response:
        study = _study(slug)
        filters = _filters(request)
        annotations = _study_annotations(study).defer("map_png", "focus_events")
        context = {"request": request, "study": study, "analysed_ids": _analysed_ids(study, filters)}
        return Response(serializers.ParticipantMapSerializer(annotations, many=True, context=context).data)


class ParticipantMapView(APIView):
    @extend_schema(
        summary="One participant's painted map: metadata, stroke log and focus events",
        parameters=FILTER_PARAMETERS,
        responses={200: serializers.ParticipantMapDetailSerializer, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str, annotation_id: int) -> Response:
        study, annotation = _study_annotation(slug, annotation_id)
        context = {
            "request": request,
            "study": study,
            "analysed_ids": _analysed_ids(study, _filters(request)),
        }
        return Response(serializers.ParticipantMapDetailSerializer(annotation, context=context).data)


class ParticipantMapPngView(APIView):
    content_negotiation_class = DownloadNegotiation

    @extend_schema(
        operation_id="participant_map_png",
        summary="One participant's painted map (16-bit grayscale PNG)",
        description="The map at the image's resolution, lossless: intensity = value / 65535 (an 8-bit "
        "submission v is sent as v x 257). The same file as participant_maps/pID/IMAGE.png in the "
        "data set ZIP.",
        responses={(200, "image/png"): OpenApiTypes.BINARY, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str, annotation_id: int) -> HttpResponse:
        _, annotation = _study_annotation(slug, annotation_id)
        response = HttpResponse(annotation_png16(annotation), content_type="image/png")
        response["Content-Disposition"] = f'attachment; filename="annotation-{annotation.pk}.png"'
        return response


class ParticipantMapNpyView(APIView):
    content_negotiation_class = DownloadNegotiation

    @extend_schema(
        operation_id="participant_map_npy",
        summary="One participant's painted map (.npy)",
        description="float32 (H,W) in [0,1] at the image's resolution: the painted intensity, before "
        "the per-participant min-max normalisation that the human mean applies.",
        responses={(200, NPY_MEDIA_TYPE): OpenApiTypes.BINARY, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str, annotation_id: int) -> HttpResponse:
        _, annotation = _study_annotation(slug, annotation_id)
        return _npy_response(codec.npy_bytes(annotation.map_array()), f"annotation-{annotation.pk}.npy")


class StudyDatasetView(APIView):
    content_negotiation_class = DownloadNegotiation

    @extend_schema(
        operation_id="study_dataset_zip",
        summary="The study data set ZIP: stimuli, every painted map and stroke log, model maps, tables",
        description="As `manage.py export_dataset`: stimuli, participants' maps (16-bit PNG) with "
        "stroke logs, human means, model maps, predictions, all CSVs, README.md and manifest.json "
        "(preprocessing, normalisation, code version, filters, SHA-256 of every file).",
        parameters=FILTER_PARAMETERS,
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 400: BAD_FILTER, 404: NOT_FOUND},
    )
    def get(self, request: Request, slug: str) -> FileResponse:
        study = _study(slug)
        filters = _filters(request)
        archive = tempfile.TemporaryFile()  # never the whole data set in memory
        write_dataset_zip(study=study, out=archive, filters=filters)
        archive.seek(0)
        return FileResponse(
            archive, as_attachment=True, filename=f"{study.slug}-dataset.zip", content_type="application/zip"
        )


class ApiIndexView(APIView):
    """What the API offers: every endpoint's address, and where the schema and its viewers
    are. Public, as the schema is: it describes the endpoints, the data need a token."""

    permission_classes = [AllowAny]

    @extend_schema(
        summary="The API's endpoints and the schema and documentation addresses",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        from research.api.urls import urlpatterns  # the URLconf imports this module

        prefix = reverse("api:index")
        endpoints = [
            {"name": pattern.name, "url": prefix + str(pattern.pattern)}
            for pattern in urlpatterns
            if pattern.name not in ("index", "schema", "docs", "redoc")
        ]
        return Response(
            {
                "title": "Saliency study platform API",
                "authentication": "Send 'Authorization: Token KEY' (manage.py api_token --username U) "
                "or use a staff session; the endpoints below need one.",
                "filters": {
                    "parameters": [name for name in AnalysisFilterForm.base_fields if name != "hierarchical"],
                    "values": {
                        "exclude_flagged, include_flagged_maps": FLAG_VALUES,
                        "min_annotations": COUNT_VALUES,
                    },
                    "bad_value": "a 400 whose body names the parameter: {parameter: [message]}",
                },
                "schema": request.build_absolute_uri(reverse("api:schema")),
                "docs": request.build_absolute_uri(reverse("api:docs")),
                "redoc": request.build_absolute_uri(reverse("api:redoc")),
                "endpoints": endpoints,
            }
        )
