import sys

from django.core.management.base import BaseCommand, CommandError

from study.exports import write_agreement_csv
from study.management.filter_options import add_filter_arguments, filters_from_options
from study.models import Study


class Command(BaseCommand):
    help = "Write the agreement CSV (one row per image x model x method x metric) of a study."

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("-o", "--output", default="-", help="CSV file to write ('-' for standard output)")
        add_filter_arguments(parser)

    def handle(self, *args, study: str, output: str, **options):
        study_obj = Study.objects.filter(slug=study).first()
        if study_obj is None:
            raise CommandError(f"no study with slug {study!r}")
        filters = filters_from_options(options)
        if output == "-":
            count = write_agreement_csv(study=study_obj, out=sys.stdout, filters=filters)
        else:
            with open(output, "w", newline="") as handle:
                count = write_agreement_csv(study=study_obj, out=handle, filters=filters)
        self.stderr.write(f"wrote {count} rows")
        if count == 0:
            self.stderr.write(
                "no rows: the study needs painted maps and computed model maps for the same images"
            )
