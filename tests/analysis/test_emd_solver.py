"""analysis.emd calls POT's network simplex directly (ot.emd2's wrapping cost twice the solver
on MIT's 7x7 grid); the result must stay ot.emd2's, bit for bit, whatever POT version is
installed."""

import numpy as np
import pytest

from analysis import emd

ot = pytest.importorskip("ot")


def test_the_direct_solver_call_equals_ot_emd2_bit_for_bit():
    if emd._pot()[0] is None:
        pytest.skip("this POT has no ot.lp.emd_wrap.emd_c; transport_cost calls ot.emd2")
    rng = np.random.default_rng(7)
    for grid in ((7, 7), (4, 5), (1, 3)):
        distance = emd.ground_distance(grid)
        n = grid[0] * grid[1]
        for trial in range(30):
            p, q = rng.random(n), rng.random(n) ** 3
            if trial % 3 == 0:
                p[rng.random(n) < 0.3] = 0  # empty bins are left out of the problem
            if trial % 4 == 0:
                q[rng.random(n) < 0.3] = 0
            if not (p.any() and q.any()):
                continue
            p, q = p / p.sum(), q / q.sum() * (1 + 1e-12)  # masses may differ by rounding
            expected = float(ot.emd2(p, q, distance, numItermax=10_000_000, check_marginals=False))
            assert emd.transport_cost(p, q, distance) == expected
