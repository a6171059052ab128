import os
import time

from django.core.management.base import BaseCommand

from research.dataset_export import write_dataset_zip
from research.management import export_options


class Command(BaseCommand):
    help = (
        "Write a study's data set ZIP, to publish or re-analyse: the stimuli, every participant's "
        "painted map (16-bit PNG) with its stroke log, timing, device and flags, the human means, "
        "every model map (NPY) with its parameters, the predictions, all CSVs, a README and "
        "manifest.json (preprocessing, normalisation, code version, filters, SHA-256 of each file)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("-o", "--output", required=True, help="ZIP file to write")
        export_options.add_filter_arguments(parser)

    def handle(self, *args, study: str, output: str, **options):
        study_obj = export_options.study_or_error(study)
        filters = export_options.filters_from_options(options)
        started = time.perf_counter()
        with open(output, "wb") as handle:
            manifest = write_dataset_zip(study=study_obj, out=handle, filters=filters)
        tables = manifest["tables"]
        self.stderr.write(
            f"wrote {output} ({os.path.getsize(output) / 1e6:.2f} MB, {len(manifest['files']) + 1} files) "
            f"in {time.perf_counter() - started:.1f} s: {tables['stimuli.csv']['rows']} stimuli, "
            f"{tables['participant_maps.csv']['rows']} participant maps, {len(manifest['human_maps'])} "
            f"human means, {len(manifest['model_maps'])} model maps"
        )
