import sys

from django.core.management.base import BaseCommand, CommandError

from study.exports import write_participant_csv
from study.models import Study


class Command(BaseCommand):
    help = (
        "Write the participant x image CSV of a study: recruiter ids, trial kind and status, time on "
        "task, focus events, coverage, attention-check outcome, flags."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("-o", "--output", default="-", help="CSV file to write ('-' for standard output)")

    def handle(self, *args, study: str, output: str, **options):
        study_obj = Study.objects.filter(slug=study).first()
        if study_obj is None:
            raise CommandError(f"no study with slug {study!r}")
        if output == "-":
            count = write_participant_csv(study=study_obj, out=sys.stdout)
        else:
            with open(output, "w", newline="") as handle:
                count = write_participant_csv(study=study_obj, out=handle)
        self.stderr.write(f"wrote {count} rows")
