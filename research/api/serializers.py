"""Output shapes of the API. Read-only: nothing here validates input."""

import json
import math

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.models import Annotation
from explain.models import ModelSpec, SaliencyMap
from research.exports import model_preprocessing
from study.models import Study


class FiniteFloatField(serializers.FloatField):
    """NaN and infinities (e.g. the Spearman correlation with a constant map) become null:
    JSON has no NaN."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        value = float(value)
        return value if math.isfinite(value) else None


class ModelSpecSerializer(serializers.ModelSerializer):
    mean = serializers.JSONField(
        help_text="As stored; empty means the source's defaults (see preprocessing)."
    )
    std = serializers.JSONField(help_text="As stored; empty means the source's defaults (see preprocessing).")
    preprocessing = serializers.SerializerMethodField(
        help_text="What the maps and predictions were computed with: input size, the resolved mean "
        "and std, interpolation and resize rule."
    )

    class Meta:
        model = ModelSpec
        fields = [
            "name",
            "source",
            "architecture",
            "input_size",
            "mean",
            "std",
            "preprocessing",
            "weights_sha256",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_preprocessing(self, spec: ModelSpec) -> dict:
        return model_preprocessing(spec)


class StudySerializer(serializers.ModelSerializer):
    image_set = serializers.CharField(source="image_set.name")
    models = ModelSpecSerializer(source="model_specs", many=True)
    methods = serializers.ListField(child=serializers.CharField())
    method_params = serializers.SerializerMethodField(help_text="Every parameter of each method.")

    class Meta:
        model = Study
        fields = [
            "slug",
            "title",
            "status",
            "image_set",
            "models",
            "methods",
            "method_params",
            "target_policy",
            "trials_per_participant",
            "practice_trials",
            "attention_checks",
            "attention_policy",
            "attention_min_inside",
            "time_limit_s",
            "min_coverage",
            "min_seconds_per_map",
            "target_annotations_per_image",
            "created_at",
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_method_params(self, study: Study) -> dict:
        return study.full_method_params()


class TopClassSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    name = serializers.CharField()
    probability = serializers.FloatField()


class PredictionSerializer(serializers.Serializer):
    model = serializers.CharField(source="model.name")
    top5 = TopClassSerializer(many=True)
    weights_sha256 = serializers.CharField()


class StudyImageSerializer(serializers.Serializer):
    """An entry of selectors.study_images, with the human mean map's URL added by the view."""

    id = serializers.IntegerField(source="image.pk")
    name = serializers.CharField(source="image.name")
    sha256 = serializers.CharField(source="image.sha256")
    width = serializers.IntegerField(source="image.width")
    height = serializers.IntegerField(source="image.height")
    class_index = serializers.IntegerField(source="image.class_index", allow_null=True)
    class_name = serializers.CharField(source="image.class_name")
    is_practice = serializers.BooleanField(source="image.is_practice")
    is_attention_check = serializers.BooleanField(source="image.is_attention_check")
    n_annotations = serializers.IntegerField(help_text="Analysed maps (main trials, not screened out).")
    predictions = PredictionSerializer(many=True, help_text="Top-5 of each of the study's models.")
    human_mean_url = serializers.URLField(allow_null=True, help_text="Null while no map is analysed.")


class ProvenanceSerializer(serializers.Serializer):
    """Fields every table response carries: how it was made."""

    study = serializers.CharField()
    code_version = serializers.CharField()
    analysis_params = serializers.JSONField()
    count = serializers.IntegerField()


class AgreementRowSerializer(serializers.Serializer):
    image = serializers.CharField()
    image_id = serializers.IntegerField()
    image_sha256 = serializers.CharField()
    class_name = serializers.CharField()
    model = serializers.CharField()
    method = serializers.CharField()
    target_class = serializers.IntegerField()
    n_participants = serializers.IntegerField()
    original = serializers.CharField(help_text="For a variant: its original (scored on its human map).")
    corruption = serializers.CharField(help_text="For a variant: the corruption, e.g. glass_blur.")
    severity = serializers.IntegerField(allow_null=True, help_text="For a variant: 1-5.")
    target = serializers.CharField(help_text="label / predicted, or shape / texture in cue-conflict studies.")
    metric = serializers.CharField()
    value = FiniteFloatField()
    method_params = serializers.SerializerMethodField()
    weights_sha256 = serializers.CharField()
    map_id = serializers.IntegerField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_method_params(self, row: dict) -> dict:
        return json.loads(row["method_params"])  # the row keeps the CSV's JSON text


class AgreementSerializer(ProvenanceSerializer):
    rows = AgreementRowSerializer(many=True)


class ImageStatsRowSerializer(serializers.Serializer):
    image = serializers.CharField()
    image_id = serializers.IntegerField()
    image_sha256 = serializers.CharField()
    class_name = serializers.CharField()
    n_annotations = serializers.IntegerField()
    human_coverage = FiniteFloatField()
    ceiling_split_half = FiniteFloatField()
    ceiling_spearman_brown = FiniteFloatField()
    model = serializers.CharField(help_text="Empty when the image has no model map yet.")
    method = serializers.CharField()
    target_class = serializers.IntegerField(allow_null=True)
    method_params = serializers.SerializerMethodField()
    weights_sha256 = serializers.CharField()
    spearman = FiniteFloatField()
    spearman_normalised = FiniteFloatField(help_text="spearman / ceiling_split_half")

    # null for an image without a model map yet (the fuzzer found the schema said object only)
    @extend_schema_field({"type": "object", "additionalProperties": {}, "nullable": True})
    def get_method_params(self, row: dict) -> dict | None:
        return json.loads(row["method_params"]) if row["method_params"] else None


class ImageStatsSerializer(ProvenanceSerializer):
    rows = ImageStatsRowSerializer(many=True)


class FlagSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="blank, too_fast, strokes_mismatch, strokes_unverified, impossible_timeout or "
        "failed_attention_check"
    )
    detail = serializers.CharField(help_text="Why, in words, with the numbers measured.")


class ParticipantTrialRowSerializer(serializers.Serializer):
    participant_code = serializers.CharField()
    prolific_pid = serializers.CharField()
    prolific_study_id = serializers.CharField()
    prolific_session_id = serializers.CharField()
    mturk_worker_id = serializers.CharField()
    mturk_assignment_id = serializers.CharField()
    mturk_hit_id = serializers.CharField()
    is_bot = serializers.BooleanField()
    consented_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    flagged = serializers.BooleanField()
    screened_out = serializers.BooleanField()
    excluded = serializers.BooleanField(help_text="Left out of the analysis by a researcher.")
    exclusion_reason = serializers.CharField()
    position = serializers.IntegerField()
    image = serializers.CharField()
    image_id = serializers.IntegerField()
    image_sha256 = serializers.CharField()
    trial_kind = serializers.CharField()
    status = serializers.CharField()
    shown_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    time_on_task_ms = serializers.IntegerField(allow_null=True)
    timed_out = serializers.BooleanField(allow_null=True)
    focus_count = serializers.IntegerField(allow_null=True)
    blur_count = serializers.IntegerField(allow_null=True)
    hidden_count = serializers.IntegerField(allow_null=True)
    hidden_ms = serializers.IntegerField(allow_null=True)
    coverage = FiniteFloatField()
    canvas_width = serializers.IntegerField(allow_null=True)
    canvas_height = serializers.IntegerField(allow_null=True)
    device_pixel_ratio = FiniteFloatField()
    attention_passed = serializers.BooleanField(allow_null=True)
    flags = FlagSerializer(many=True, help_text="This map's data-quality flags (empty: none, or no map).")
    participant_flags = serializers.ListField(
        child=serializers.CharField(), help_text="The flag codes found on any of the participant's maps."
    )
    analysed = serializers.BooleanField(
        help_text="Whether the map enters the human mean with the default filters (flagged maps do not)."
    )


class ParticipantTrialsSerializer(ProvenanceSerializer):
    rows = ParticipantTrialRowSerializer(many=True)


class ModelMapSerializer(serializers.ModelSerializer):
    image = serializers.CharField(source="image.name")
    model = serializers.CharField(source="model.name")
    npy_url = serializers.SerializerMethodField(help_text="The map, float32 (H,W) .npy.")

    class Meta:
        model = SaliencyMap
        fields = [
            "id",
            "image",
            "image_id",
            "model",
            "method",
            "target_class",
            "params",
            "params_hash",
            "weights_sha256",
            "runtime_s",
            "device",
            "versions",
            "details",
            "created_at",
            "npy_url",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_npy_url(self, saliency_map: SaliencyMap) -> str:
        request = self.context["request"]
        slug = self.context["study"].slug
        return request.build_absolute_uri(reverse("api:map-npy", args=[slug, saliency_map.pk]))


class ParticipantMapSerializer(serializers.ModelSerializer):
    """One participant's painted map (an annotation) of the study; ``analysed`` under the
    request's filters comes from the view (context["analysed_ids"])."""

    participant_id = serializers.IntegerField(source="trial.participant_id")
    participant_code = serializers.CharField(
        source="trial.participant.code", help_text="Joins the participants endpoint and CSV."
    )
    is_bot = serializers.BooleanField(source="trial.participant.is_bot")
    image = serializers.CharField(source="trial.image.name")
    image_id = serializers.IntegerField(source="trial.image_id")
    trial_kind = serializers.CharField(source="trial.kind", help_text="main, practice or attention.")
    position = serializers.IntegerField(source="trial.position")
    shown_at = serializers.DateTimeField(source="trial.shown_at", allow_null=True)
    completed_at = serializers.DateTimeField(source="trial.completed_at", allow_null=True)
    submitted_bit_depth = serializers.IntegerField(source="bit_depth", help_text="8 or 16, as submitted.")
    n_strokes = serializers.SerializerMethodField()
    coverage = FiniteFloatField()
    device_pixel_ratio = FiniteFloatField()
    flags = FlagSerializer(many=True)
    analysed = serializers.SerializerMethodField(
        help_text="Whether the map is in its image's human mean under the request's filters."
    )
    png_url = serializers.SerializerMethodField(help_text="The map as a 16-bit grayscale PNG (lossless).")
    npy_url = serializers.SerializerMethodField(help_text="The map as float32 (H,W) .npy in [0,1].")
    url = serializers.SerializerMethodField(help_text="This entry with its stroke log and focus events.")

    class Meta:
        model = Annotation
        fields = [
            "id",
            "participant_id",
            "participant_code",
            "is_bot",
            "image",
            "image_id",
            "trial_kind",
            "position",
            "width",
            "height",
            "submitted_bit_depth",
            "n_strokes",
            "shown_at",
            "completed_at",
            "created_at",
            "time_on_task_ms",
            "timed_out",
            "canvas_width",
            "canvas_height",
            "device_pixel_ratio",
            "coverage",
            "flags",
            "analysed",
            "png_url",
            "npy_url",
            "url",
        ]

    def get_n_strokes(self, annotation: Annotation) -> int:
        return len(annotation.strokes or [])

    def get_analysed(self, annotation: Annotation) -> bool:
        return annotation.pk in self.context["analysed_ids"]

    def _url(self, name: str, annotation: Annotation) -> str:
        args = [self.context["study"].slug, annotation.pk]
        return self.context["request"].build_absolute_uri(reverse(name, args=args))

    @extend_schema_field(OpenApiTypes.URI)
    def get_png_url(self, annotation: Annotation) -> str:
        return self._url("api:participant-map-png", annotation)

    @extend_schema_field(OpenApiTypes.URI)
    def get_npy_url(self, annotation: Annotation) -> str:
        return self._url("api:participant-map-npy", annotation)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, annotation: Annotation) -> str:
        return self._url("api:participant-map", annotation)


class ParticipantMapDetailSerializer(ParticipantMapSerializer):
    strokes = serializers.JSONField(
        help_text='The stroke log: [{"tool": "brush"|"eraser", "size", "strength", "points": '
        "[[x, y, p], ...]}] in image pixels; annotations/brush.py render_strokes replays it."
    )
    focus_events = serializers.JSONField(
        help_text='[["blur"|"focus"|"hidden"|"visible", ms since page load], ...]'
    )

    class Meta(ParticipantMapSerializer.Meta):
        fields = [*ParticipantMapSerializer.Meta.fields, "strokes", "focus_events"]


class DiagnosticRowSerializer(serializers.Serializer):
    """A row of diagnostics.csv (research.faithfulness.DIAGNOSTIC_COLUMNS): null where the CSV
    is empty (not computed, or no value)."""

    image = serializers.CharField()
    model = serializers.CharField()
    subject = serializers.CharField(help_text="A method, or human_mean (the participants' mean map).")
    target_class = serializers.IntegerField(allow_null=True)
    sic_auc = FiniteFloatField()
    sic_skipped = serializers.CharField(
        allow_blank=True, help_text="Why PIC could not score the image; empty when scored."
    )
    aic_auc = FiniteFloatField()
    aic_skipped = serializers.CharField(allow_blank=True)
    insertion_auc = FiniteFloatField(help_text="Higher is better.")
    deletion_auc = FiniteFloatField(help_text="Lower is better.")
    pixel_auc = FiniteFloatField(help_text="Against the image's ground truth; null without one.")
    f1 = FiniteFloatField()
    mae = FiniteFloatField()
    pointing_game = FiniteFloatField()
    epsilon = FiniteFloatField(help_text="The study's epsilon for Perturbation-epsilon.")
    violation_share = FiniteFloatField(help_text="Share of patches with attribution < epsilon x dy.")
    largest_epsilon = FiniteFloatField(
        help_text="Largest epsilon the map satisfies; null when unbounded (see largest_epsilon_unbounded) "
        "or not computed."
    )
    largest_epsilon_unbounded = serializers.BooleanField(help_text="No patch bounds epsilon (the CSV's inf).")
    patches = serializers.IntegerField(allow_null=True)


class RandomisationRowSerializer(serializers.Serializer):
    """A row of randomisation.csv (research.faithfulness.RANDOMISATION_COLUMNS)."""

    image = serializers.CharField()
    model = serializers.CharField()
    method = serializers.CharField()
    target_class = serializers.IntegerField(allow_null=True)
    step = serializers.IntegerField()
    layer = serializers.CharField(
        allow_null=True, help_text="The last layer re-initialised, counting from the logits."
    )
    layers_randomised = serializers.IntegerField(allow_null=True)
    layers_total = serializers.IntegerField(allow_null=True)
    spearman = FiniteFloatField()
    spearman_abs = FiniteFloatField()
    ssim = FiniteFloatField()


class DiagnosticsExpectedSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    models = serializers.IntegerField()
    subjects = serializers.ListField(child=serializers.CharField())
    human_images = serializers.IntegerField(help_text="Images with a participants' mean map.")
    rows = serializers.IntegerField(help_text="Rows a complete run stores.")


class DiagnosticsSerializer(serializers.Serializer):
    study = serializers.CharField()
    code_version = serializers.CharField()
    settings = serializers.JSONField(help_text="The study's resolved diagnostic settings.")
    checks = serializers.JSONField(
        help_text="Per check: enabled, parameters and settings_hash (the key of its stored results)."
    )
    expected = DiagnosticsExpectedSerializer()
    count = serializers.IntegerField()
    rows = DiagnosticRowSerializer(many=True)
    randomisation_count = serializers.IntegerField()
    randomisation = RandomisationRowSerializer(many=True)
    summary = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per model x subject (research.faithfulness.diagnostics_summary), NaN as null; the "
        "median curves (curve_x, curve_y) only with curves=1.",
    )
