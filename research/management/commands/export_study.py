from django.core.management.base import BaseCommand

from research.exports import write_study_zip
from research.management import export_options


class Command(BaseCommand):
    # No system checks: they import every view and the API's schema code (about 2 s of start-up);
    # manage.py check, migrate and the servers run them.
    requires_system_checks = []
    help = (
        "Write a study's ZIP: mean human maps (16-bit PNG and NPY), every model map (NPY), the "
        "agreement and participant CSVs, the faithfulness diagnostics (diagnostics.csv, randomisation.csv, "
        "diagnostics_summary.json), and manifest.json with all parameters."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("-o", "--output", required=True, help="ZIP file to write")
        parser.add_argument(
            "--no-csv",
            action="store_true",
            help="leave the CSVs out (agreement, images, participants, diagnostics, randomisation)",
        )
        export_options.add_filter_arguments(parser)

    def handle(self, *args, study: str, output: str, no_csv: bool, **options):
        study_obj = export_options.study_or_error(study)
        filters = export_options.filters_from_options(options)
        with open(output, "wb") as handle:
            manifest = write_study_zip(
                study=study_obj, out=handle, include_tables=not no_csv, filters=filters
            )
        self.stderr.write(
            f"wrote {output}: {len(manifest['human_maps'])} human mean maps, "
            f"{len(manifest['model_maps'])} model maps"
            + ("" if no_csv else ", agreement.csv, participants.csv")
            + f", {manifest['diagnostics']['counts']['rows']} diagnostics rows"
        )
