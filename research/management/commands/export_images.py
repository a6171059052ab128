from django.core.management.base import BaseCommand

from research.exports import write_image_csv
from research.management import export_options


class Command(BaseCommand):
    # No system checks: they import every view and the API's schema code (about 2 s of start-up);
    # manage.py check, migrate and the servers run them.
    requires_system_checks = []
    help = (
        "Write the images CSV of a study: per image x model x method, the analysed maps, the "
        "human map's coverage, the split-half noise ceiling and the Spearman raw and normalised."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        export_options.add_csv_output_argument(parser)
        export_options.add_filter_arguments(parser)

    def handle(self, *args, study: str, output: str, **options):
        study_obj = export_options.study_or_error(study)
        filters = export_options.filters_from_options(options)
        count = export_options.write_csv(
            output, lambda out: write_image_csv(study=study_obj, out=out, filters=filters)
        )
        self.stderr.write(f"wrote {count} rows")
