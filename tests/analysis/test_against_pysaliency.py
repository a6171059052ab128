"""Agreement with pysaliency (matthias-k/pysaliency 0.2.22) on random maps.

pysaliency's package ``__init__`` imports ``pkg_resources``, which setuptools 81+ no longer
ships, so ``import pysaliency`` fails in this environment; its ``metrics`` module needs only
numpy, so it is loaded straight from the installed package. Missing pysaliency is an error
here, never a skip.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

from analysis import metrics


@pytest.fixture(scope="module")
def pysaliency_metrics():
    spec = importlib.util.find_spec("pysaliency")
    if spec is None or not spec.submodule_search_locations:
        raise AssertionError("pysaliency is not installed: pip install -r requirements-dev.txt")
    path = pathlib.Path(spec.submodule_search_locations[0]) / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("pysaliency_metrics", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture
def random_maps():
    rng = np.random.default_rng(11)
    pairs = []
    for shape in ((16, 16), (30, 41), (64, 48)):
        for power in (1, 3):
            pairs.append(
                (
                    (rng.random(shape) ** power).astype(np.float32),
                    (rng.random(shape) ** power).astype(np.float32),
                )
            )
    return pairs


def test_cc_equals_pysaliency(pysaliency_metrics, random_maps):
    for s, h in random_maps:
        theirs = pysaliency_metrics.CC(s.astype(np.float64), h.astype(np.float64))
        assert metrics.cc(s, h) == pytest.approx(theirs, abs=1e-12)


def test_kld_equals_pysaliency_mit_kldiv(pysaliency_metrics, random_maps):
    for s, h in random_maps:
        # MIT_KLDiv(saliency_map_1, saliency_map_2): map 2 is the empirical (human) one
        theirs = pysaliency_metrics.MIT_KLDiv(s.astype(np.float64), h.astype(np.float64))
        assert metrics.kld(s, h) == pytest.approx(theirs, rel=1e-12, abs=1e-14)


def test_nss_equals_pysaliency_up_to_its_n_rather_than_n_minus_1_std(pysaliency_metrics, random_maps):
    for s, h in random_maps:
        fixations = metrics.fixation_mask(h, 0.1)
        ys, xs = np.nonzero(fixations)
        theirs = pysaliency_metrics.NSS(s.astype(np.float64), xs, ys).mean()
        n = s.size
        assert metrics.nss(s, h) == pytest.approx(theirs * np.sqrt((n - 1) / n), abs=1e-12)


def test_sim_equals_pysaliency_only_where_min_max_changes_nothing(pysaliency_metrics, random_maps):
    for s, h in random_maps:
        # maps whose minimum is 0: min-max is a division, which sum-to-one undoes
        s0, h0 = s - s.min(), h - h.min()
        theirs = pysaliency_metrics.SIM(s0.astype(np.float64), h0.astype(np.float64))
        assert metrics.sim(s0, h0) == pytest.approx(theirs, abs=1e-6)
    # with a raised floor pysaliency skips MIT's min-max and scores higher
    s, h = random_maps[0]
    assert pysaliency_metrics.SIM(s + 1.0, h.astype(np.float64)) > metrics.sim(s + 1.0, h) + 0.05
