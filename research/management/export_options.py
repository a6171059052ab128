"""What the export commands share: finding the study, the results page's analysis filters as
options, and writing a CSV to a file or standard output."""

import sys
from collections.abc import Callable
from typing import TextIO

from django.core.management.base import CommandError

from research.inputs import AnalysisFilters
from study.models import Study


def study_or_error(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"no study with slug {slug!r}")
    return study


def add_filter_arguments(parser) -> None:
    parser.add_argument(
        "--exclude-flagged", action="store_true", help="leave out participants who failed an attention check"
    )
    parser.add_argument(
        "--min-annotations",
        type=int,
        default=0,
        help="only images with at least this many analysed human maps (default 0: all)",
    )
    parser.add_argument(
        "--include-flagged-maps",
        action="store_true",
        help="include maps the server flagged at submission (blank, too fast, strokes that do not "
        "match the map, an impossible timeout); left out by default",
    )


def filters_from_options(options: dict) -> AnalysisFilters:
    if options["min_annotations"] < 0:
        raise CommandError("--min-annotations must be 0 or more")
    return AnalysisFilters(
        exclude_flagged=options["exclude_flagged"],
        min_annotations=options["min_annotations"],
        include_flagged_maps=options.get("include_flagged_maps", False),
    )


def add_csv_output_argument(parser) -> None:
    parser.add_argument("-o", "--output", default="-", help="CSV file to write ('-' for standard output)")


def write_csv(output: str, write: Callable[[TextIO], int]) -> int:
    """Run ``write(handle)`` on the output ('-': standard output); return its row count."""
    if output == "-":
        return write(sys.stdout)
    with open(output, "w", newline="") as handle:  # csv writes its own line endings
        return write(handle)
