"""The study's faithfulness diagnostics from the command line: queue them (research.faithfulness)
and wait for the worker, or run the job's units in this process (``--in-process``: no worker
needed); then print the summary per model x subject and write the CSVs. Results already stored
for the study's current settings are reused, so a second run only reads."""

import json
import math
import time

from django.core.management.base import BaseCommand, CommandError

from explain.models import ComputeJob, ComputeUnit
from explain.selectors import compute_job_progress
from explain.services import image_unit_compute
from research import faithfulness
from study.management.commands.compute_maps import progress_line, wait_for_job
from study.models import Study

TABLE = (  # (title, value of a summary entry, digits)
    ("model", lambda e: e["model"], 0),
    ("subject", lambda e: e["subject"], 0),
    ("n", lambda e: e["images"], 0),
    ("SIC", lambda e: e["sic"]["auc"], 3),
    ("SIC n", lambda e: e["sic"]["count"], 0),
    ("AIC", lambda e: e["aic"]["auc"], 3),
    ("AIC n", lambda e: e["aic"]["count"], 0),
    ("ins", lambda e: e["insertion"]["mean"], 3),
    ("del", lambda e: e["deletion"]["mean"], 3),
    ("pxAUC", lambda e: e["pixel_auc"]["mean"], 3),
    ("point", lambda e: e["pointing_game"]["mean"], 2),
    ("eps viol", lambda e: e["violation_share"]["mean"], 2),
    ("max eps", lambda e: e["largest_epsilon_median"], 3),
    ("rho logits", lambda e: e["randomisation"][0]["spearman"] if e["randomisation"] else None, 2),
    ("rho random", lambda e: e["randomisation"][-1]["spearman"] if e["randomisation"] else None, 2),
    ("SSIM random", lambda e: e["randomisation"][-1]["ssim"] if e["randomisation"] else None, 2),
    ("passes", lambda e: e["randomisation_passes"], 0),
)


def _fmt(value, digits: int) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Faithfulness diagnostics of a study (PIC SIC/AIC, insertion/deletion, localisation, "
        "Perturbation-epsilon, model-parameter randomisation) of every model map and of the human "
        "mean, with the study's settings: computed by the worker (or here), then summarised."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument(
            "--checks",
            help="JSON changes to the defaults, saved as the study's diagnostics setting, e.g. "
            '\'{"randomisation": {"images": 2}}\'',
        )
        parser.add_argument(
            "--in-process", action="store_true", help="compute here instead of waiting for a worker"
        )
        parser.add_argument(
            "--timeout", type=float, default=7200, help="seconds to wait for the worker (else: --in-process)"
        )
        parser.add_argument("--csv", help="write one row per image x model x subject to this file")
        parser.add_argument("--randomisation-csv", help="write the randomisation steps to this file")

    def handle(self, *args, **options):
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"no study with slug {options['study']!r}")
        if options["checks"] is not None:
            self._save_settings(study, options["checks"])
        started = time.perf_counter()
        try:
            job = faithfulness.study_diagnostics_compute(study=study)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"queued job {job.pk}: {job.total} image x model units")
        if options["in_process"]:
            self._run_here(job)
        else:
            wait_for_job(job, timeout=options["timeout"], stdout=self.stdout, stderr=self.stderr)
        found = faithfulness.study_diagnostics(study=study)
        self._print_table(faithfulness.diagnostics_summary(found))
        self.stdout.write(f"{found['images']} images, {time.perf_counter() - started:.0f} s")
        for option, writer in (
            ("csv", faithfulness.write_diagnostics_csv),
            ("randomisation_csv", faithfulness.write_randomisation_csv),
        ):
            if options[option]:
                with open(options[option], "w", newline="") as handle:
                    writer(out=handle, diagnostics=found)

    def _save_settings(self, study: Study, text: str) -> None:
        try:
            overrides = json.loads(text)
            study.diagnostics = overrides
            study.diagnostic_settings()  # validates
        except (json.JSONDecodeError, ValueError) as error:
            raise CommandError(f"--checks: {error}") from None
        study.save(update_fields=["diagnostics"])

    def _run_here(self, job: ComputeJob) -> None:
        for unit_id in job.units.order_by("pk").values_list("pk", flat=True):
            status = image_unit_compute(unit_id=unit_id)
            job.refresh_from_db()
            self.stdout.write(progress_line(compute_job_progress(job)))
            if status == ComputeUnit.Status.FAILED:
                self.stderr.write(f"  error: {ComputeUnit.objects.get(pk=unit_id).error}")

    def _print_table(self, summary: list[dict]) -> None:
        table = [[title for title, _, _ in TABLE]]
        table += [[_fmt(value(entry), digits) for _, value, digits in TABLE] for entry in summary]
        widths = [max(len(line[i]) for line in table) for i in range(len(TABLE))]
        for line in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
