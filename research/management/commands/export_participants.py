from django.core.management.base import BaseCommand

from research.exports import write_participant_csv
from research.management import export_options


class Command(BaseCommand):
    # No system checks: they import every view and the API's schema code (about 2 s of start-up);
    # manage.py check, migrate and the servers run them.
    requires_system_checks = []
    help = (
        "Write the participant x image CSV of a study: recruiter ids, trial kind and status, time on "
        "task, focus events, coverage, attention-check outcome, flags."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        export_options.add_csv_output_argument(parser)

    def handle(self, *args, study: str, output: str, **options):
        study_obj = export_options.study_or_error(study)
        count = export_options.write_csv(output, lambda out: write_participant_csv(study=study_obj, out=out))
        self.stderr.write(f"wrote {count} rows")
