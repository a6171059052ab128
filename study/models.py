import secrets

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from catalogue.models import Image, ImageSet
from explain.targets import TargetPolicy


def new_participant_code() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits: unguessable study links


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open for participants"
        CLOSED = "closed", "Closed"

    class AttentionPolicy(models.TextChoices):
        FLAG = "flag", "Flag the participant, let them finish"
        SCREEN_OUT = "screen_out", "End the study for them with the screen-out code"

    TargetPolicy = TargetPolicy  # defined by explain, which computes the maps

    class Template(models.TextChoices):
        CUSTOM = "", "Custom"
        COMPARE_MODELS = "compare_models", "Compare models"
        CORRUPTIONS = "corruptions", "Corruptions"
        CUE_CONFLICT = "cue_conflict", "Cue conflict"
        BIASED_MODEL = "biased_model", "Biased model"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    image_set = models.ForeignKey(ImageSet, on_delete=models.PROTECT, related_name="studies")
    instructions = models.TextField(
        default="Paint over the parts of the image that show you it is the named class. "
        "Paint more where the evidence is stronger."
    )
    consent_text = models.TextField(
        default="This study asks you to paint where you see evidence for an object class in images. "
        "Your painted maps, timings and any recruiter id are stored for research and analysed "
        "anonymously."
    )
    trials_per_participant = models.PositiveIntegerField(default=5)
    target_annotations_per_image = models.PositiveIntegerField(default=10)
    model_specs = models.ManyToManyField(
        "explain.ModelSpec", blank=True, related_name="studies", verbose_name="models"
    )
    methods = models.JSONField(
        default=list,
        help_text='Saliency method names, e.g. ["xrai", "integrated_gradients"]. Known: xrai, '
        "integrated_gradients, vanilla_gradient, smoothgrad, gradient_x_input, blur_ig, guided_ig, "
        "grad_cam, occlusion.",
    )
    method_params = models.JSONField(
        default=dict, blank=True, help_text='Overrides of default parameters, e.g. {"xrai": {"steps": 50}}.'
    )
    diagnostics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Faithfulness diagnostics, as changes to the defaults (the papers'), e.g. "
        '{"randomisation": {"images": 2}, "perturbation_epsilon": {"enabled": false}}. Checks: pic, '
        "insertion_deletion, localisation, perturbation_epsilon, randomisation; human_mean: true/false.",
    )
    target_policy = models.CharField(
        max_length=30,
        choices=TargetPolicy.choices,
        default=TargetPolicy.LABEL_OR_PREDICTED,
        help_text="Which class each model map explains.",
    )
    completion_code = models.CharField(max_length=64, default=new_completion_code)
    completion_redirect_url = models.URLField(
        blank=True,
        help_text="Where the finish page sends participants; {code} is replaced by the completion code. "
        "Empty: Prolific's completion URL for participants who came from Prolific, else no redirect.",
    )
    practice_trials = models.PositiveIntegerField(default=0, help_text="Practice images shown first.")
    attention_checks = models.PositiveIntegerField(default=0, help_text="Attention-check images mixed in.")
    attention_min_inside = models.FloatField(
        default=0.5, help_text="Share of the painted mass that must fall in the target region to pass."
    )
    attention_policy = models.CharField(
        max_length=20, choices=AttentionPolicy.choices, default=AttentionPolicy.FLAG
    )
    screen_out_code = models.CharField(
        max_length=64, blank=True, help_text="Completion code for screened-out participants."
    )
    time_limit_s = models.PositiveIntegerField(default=0, help_text="Seconds per trial; 0 = no limit.")
    min_coverage = models.FloatField(
        default=0.005, help_text="Share of the image that must be painted (value >= 0.05) before submitting."
    )
    min_seconds_per_map = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(0)],
        help_text="A map submitted sooner than this after its trial page was served (server time) is "
        "flagged too fast and left out of the analysis; 0 = no minimum.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    template = models.CharField(
        max_length=30, choices=Template.choices, default=Template.CUSTOM, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.title

    def full_method_params(self) -> dict[str, dict]:
        """Each of the study's methods (in order) -> its full parameters: the defaults updated
        by the study's overrides."""
        from explain.saliency.registry import method_params

        return {method: method_params(method, self.method_params.get(method)) for method in self.methods}

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from explain.diagnostic_settings import diagnostic_settings
        from explain.saliency.registry import method_params

        if not isinstance(self.methods, list) or not all(isinstance(m, str) for m in self.methods):
            raise ValidationError({"methods": "a list of method names"})
        if not isinstance(self.method_params, dict):
            raise ValidationError({"method_params": 'an object such as {"xrai": {"steps": 50}}'})
        unused = set(self.method_params) - set(self.methods)
        if unused:
            raise ValidationError(
                {"method_params": f"parameters for methods not in the study: {sorted(unused)}"}
            )
        for method in self.methods:
            try:
                method_params(method, self.method_params.get(method))
            except ValueError as error:
                raise ValidationError({"methods": str(error)}) from None
        try:
            diagnostic_settings(self.diagnostics)
        except ValueError as error:
            raise ValidationError({"diagnostics": str(error)}) from None

    def diagnostic_settings(self) -> dict:
        """The full settings of the study's faithfulness diagnostics (explain.diagnostic_settings)."""
        from explain.diagnostic_settings import diagnostic_settings

        return diagnostic_settings(self.diagnostics)


class Participant(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    code = models.CharField(max_length=64, unique=True, default=new_participant_code, editable=False)
    prolific_pid = models.CharField(max_length=100, blank=True)
    prolific_study_id = models.CharField(max_length=100, blank=True)
    prolific_session_id = models.CharField(max_length=100, blank=True)
    mturk_worker_id = models.CharField(max_length=100, blank=True)
    mturk_assignment_id = models.CharField(max_length=100, blank=True)
    mturk_hit_id = models.CharField(max_length=100, blank=True)
    user_agent = models.TextField(blank=True)
    is_bot = models.BooleanField(default=False, help_text="Simulated by simulate_participants.")
    consented_at = models.DateTimeField()
    instructions_seen_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    flagged = models.BooleanField(default=False, help_text="Failed an attention check.")
    screened_out = models.BooleanField(default=False)
    # Excluded participants' data stays stored; the analysis leaves it out.
    excluded = models.BooleanField(default=False, help_text="Left out of the analysis by a researcher.")
    exclusion_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "prolific_pid"],
                condition=~Q(prolific_pid=""),
                name="one_participant_per_prolific_pid",
            ),
            models.UniqueConstraint(
                fields=["study", "mturk_worker_id"],
                condition=~Q(mturk_worker_id=""),
                name="one_participant_per_mturk_worker",
            ),
        ]

    def __str__(self) -> str:
        return f"participant {self.pk} of {self.study.slug}"


class Trial(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped (screened out)"

    class Kind(models.TextChoices):
        PRACTICE = "practice", "Practice"
        MAIN = "main", "Main"
        ATTENTION = "attention", "Attention check"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="trials")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MAIN)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attention_passed = models.BooleanField(null=True, blank=True)
    shown_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "image"], name="never_the_same_image_twice"),
            models.UniqueConstraint(fields=["participant", "position"], name="one_trial_per_position"),
        ]

    def __str__(self) -> str:
        return f"trial {self.position} of participant {self.participant_id}"
