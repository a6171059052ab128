"""The tidy agreement CSV, shared by the results page and export_agreement."""

import csv
import json
import subprocess
from pathlib import Path
from typing import TextIO

from study.models import Study
from study.selectors import ANALYSIS_PARAMS, agreement_rows

COLUMNS = [
    "study",
    "image",
    "image_sha256",
    "class_name",
    "model",
    "method",
    "target_class",
    "n_participants",
    "metric",
    "value",
    "method_params",
    "weights_sha256",
    "analysis_params",
    "code_version",
]


def code_version() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent.parent,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_agreement_csv(*, study: Study, out: TextIO) -> int:
    """Write one row per image x model x method x metric; return the number of rows."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    analysis_params = json.dumps(ANALYSIS_PARAMS, sort_keys=True)
    version = code_version()
    rows = agreement_rows(study=study)
    for row in rows:
        writer.writerow(
            {
                **row,
                "value": f"{row['value']:.6g}",
                "analysis_params": analysis_params,
                "code_version": version,
            }
        )
    return len(rows)
