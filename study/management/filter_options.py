"""The results page's analysis filters as command-line options, shared by the export commands."""

from django.core.management.base import CommandError

from study.selectors import AnalysisFilters


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


def filters_from_options(options: dict) -> AnalysisFilters:
    if options["min_annotations"] < 0:
        raise CommandError("--min-annotations must be 0 or more")
    return AnalysisFilters(
        exclude_flagged=options["exclude_flagged"], min_annotations=options["min_annotations"]
    )
