"""Which faithfulness diagnostics a study runs, and their parameters (issue 15). Torch-free:
the study's form and the web process validate settings with it.

A study stores only its overrides (``Study.diagnostics``); ``diagnostic_settings`` fills in the
defaults below, which are the papers' own:

- ``pic``: Kapishnikov et al. 2019 (XRAI): the 13 thresholds and the 0.8 confidence floor of
  PAIR-code/saliency's PIC example.
- ``insertion_deletion``: Petsiuk et al. 2018 (RISE): 224 steps over the image (``step`` pixels
  per step; null means input pixels / 224).
- ``localisation``: pixel AUC, F1, MAE and the pointing game against each image's ground truth
  (no parameter; skipped for images without a mask or boxes).
- ``perturbation_epsilon``: the XRAI page's axiom on square patches of ``patch_size`` pixels of
  the model's input, removed to the image's mean colour; ``epsilon`` is the study's ε for the
  share of violating patches (maps are scaled to a total absolute attribution of 1, Δy is a
  softmax probability, so ε = 0.1 asks a patch whose removal costs 0.5 of probability to hold at
  least 5 % of the map).
- ``randomisation``: Adebayo et al. 2018's cascading test on the first ``images`` main images
  (by name), the map recomputed at ``evaluated_steps`` steps of the cascade, ``seed`` for the
  re-initialised weights.
- ``human_mean``: PIC, insertion/deletion, Perturbation-ε and localisation of the participants'
  mean map, scored exactly as a method's map.

Every check's parameters are hashed on their own (``check_settings_hash``): a stored result is
reused while its check's parameters are unchanged, whatever happens to the other checks.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from analysis.pic import DEFAULT_MIN_PRED_VALUE, DEFAULT_THRESHOLDS

PIC = "pic"
INSERTION_DELETION = "insertion_deletion"
LOCALISATION = "localisation"
PERTURBATION_EPSILON = "perturbation_epsilon"
RANDOMISATION = "randomisation"
CHECKS = (PIC, INSERTION_DELETION, LOCALISATION, PERTURBATION_EPSILON, RANDOMISATION)
HUMAN_MEAN = "human_mean"  # the subject name of the participants' mean map

DEFAULT_DIAGNOSTICS: dict[str, Any] = {
    PIC: {"enabled": True, "thresholds": list(DEFAULT_THRESHOLDS), "min_pred_value": DEFAULT_MIN_PRED_VALUE},
    INSERTION_DELETION: {"enabled": True, "step": None},
    LOCALISATION: {"enabled": True},
    PERTURBATION_EPSILON: {"enabled": True, "epsilon": 0.1, "patch_size": 16},
    RANDOMISATION: {"enabled": True, "images": 1, "evaluated_steps": 4, "seed": 0},
    HUMAN_MEAN: True,
}


def _number(value, name: str, *, low: float, high: float | None = None, integer: bool = False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return value


def _check_values(check: str, values: dict) -> None:
    if not isinstance(values.get("enabled"), bool):
        raise ValueError(f"{check}.enabled must be true or false")
    if check == PIC:
        thresholds = values["thresholds"]
        if not isinstance(thresholds, list) or not thresholds:
            raise ValueError("pic.thresholds must be a non-empty list of fractions in (0, 1)")
        for threshold in thresholds:
            _number(threshold, "each of pic.thresholds", low=1e-6, high=1.0)
        if thresholds != sorted(set(thresholds)):
            raise ValueError("pic.thresholds must increase, without repeats")
        _number(values["min_pred_value"], "pic.min_pred_value", low=0.0, high=1.0)
    elif check == INSERTION_DELETION and values["step"] is not None:
        _number(values["step"], "insertion_deletion.step", low=1, integer=True)
    elif check == PERTURBATION_EPSILON:
        _number(values["epsilon"], "perturbation_epsilon.epsilon", low=0.0)
        _number(values["patch_size"], "perturbation_epsilon.patch_size", low=1, integer=True)
    elif check == RANDOMISATION:
        _number(values["images"], "randomisation.images", low=0, integer=True)
        _number(values["evaluated_steps"], "randomisation.evaluated_steps", low=2, integer=True)
        _number(values["seed"], "randomisation.seed", low=0, integer=True)


def diagnostic_settings(overrides: dict | None = None) -> dict[str, Any]:
    """The full settings: the defaults updated by ``overrides`` (per check, key by key).
    ValueError names an unknown check or parameter and a bad value."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ValueError('diagnostics must be an object such as {"randomisation": {"images": 2}}')
    unknown = set(overrides) - set(DEFAULT_DIAGNOSTICS)
    if unknown:
        raise ValueError(f"unknown diagnostics {sorted(unknown)}; known: {', '.join(DEFAULT_DIAGNOSTICS)}")
    settings = copy.deepcopy(DEFAULT_DIAGNOSTICS)
    if HUMAN_MEAN in overrides:
        if not isinstance(overrides[HUMAN_MEAN], bool):
            raise ValueError("human_mean must be true or false")
        settings[HUMAN_MEAN] = overrides[HUMAN_MEAN]
    for check in CHECKS:
        given = overrides.get(check, {})
        if not isinstance(given, dict):
            raise ValueError(f"{check} must be an object of parameters, got {given!r}")
        unknown = set(given) - set(settings[check])
        if unknown:
            raise ValueError(
                f"unknown parameters for {check}: {sorted(unknown)}; known: {', '.join(settings[check])}"
            )
        settings[check].update(copy.deepcopy(given))
        _check_values(check, settings[check])
    return settings


def enabled_checks(settings: dict) -> list[str]:
    return [check for check in CHECKS if settings[check]["enabled"]]


def check_parameters(settings: dict, check: str) -> dict:
    """A check's parameters without its on/off switch: what its results depend on."""
    return {key: value for key, value in settings[check].items() if key != "enabled"}


def check_settings_hash(check: str, parameters: dict) -> str:
    """sha256 of the check's name and parameters as sorted-key JSON: part of a stored result's
    cache key, so this must never change."""
    return hashlib.sha256(json.dumps([check, parameters], sort_keys=True).encode()).hexdigest()
