#!/usr/bin/env python3
"""Writes tests/eval/data/arviz_reference.json: MCMC draws and ArviZ's diagnostics of them.

The reference for include/ebm/eval/mcmc_diagnostics.hpp (checked by tests/eval/test_mcmc_diagnostics.cpp to 1e-6
relative). Every case is drawn from numpy's default_rng with a fixed seed, so a rerun with the same ArviZ, numpy and
scipy writes the same file. Needs arviz, numpy, scipy (pip install arviz). Run from anywhere:

    python3 tests/eval/arviz_reference.py

Draws are stored as chains (a list of lists, chain c's draws in order) of repr-exact doubles; diagnostics that
ArviZ gives as NaN (R-hat of one chain, of a constant) are stored as null.
"""
import json
import logging
import math
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy

warnings.simplefilter("ignore")  # ArviZ's notice of its coming refactor
logging.disable(logging.WARNING)  # ArviZ's shape warning for the one-chain R-hat (NaN, as intended)
import arviz as az  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "arviz_reference.json"
AUTOCORR_LAGS = 20


def ar1(rng, chains, draws, phi, scale=1.0):
    """AR(1) x_t = phi x_{t-1} + e_t, started from the stationary law N(0, 1 / (1 - phi^2))."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.normal(size=chains) / math.sqrt(1.0 - phi * phi)
    e = rng.normal(size=(chains, draws))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return scale * x


def cases():
    yield "iid_normal", "4 chains of 500 iid N(0, 1)", np.random.default_rng(101).normal(size=(4, 500))
    yield "ar1_phi_0.9", "4 chains of 1000 of AR(1), phi = 0.9", ar1(np.random.default_rng(102), 4, 1000, 0.9)
    yield "student_t3", "4 chains of 500 iid Student t, 3 dof", np.random.default_rng(103).standard_t(3, size=(4, 500))
    rng = np.random.default_rng(104)
    yield ("shifted_means", "4 chains of 300 of AR(1) phi 0.3 with means 0, 0, 0.5, 1.5 (R-hat well above 1)",
           ar1(rng, 4, 300, 0.3) + np.array([0.0, 0.0, 0.5, 1.5])[:, None])
    yield "odd_draws", "3 chains of 201 of AR(1), phi = 0.5 (split drops the middle draw)", ar1(
        np.random.default_rng(105), 3, 201, 0.5)
    yield "one_chain", "1 chain of 401 of AR(1), phi = 0.7 (R-hat: NaN in ArviZ)", ar1(
        np.random.default_rng(106), 1, 401, 0.7)
    yield "two_chains", "2 chains of 150 of AR(1), phi = 0.6", ar1(np.random.default_rng(107), 2, 150, 0.6)
    yield ("poisson_ties", "4 chains of 250 iid Poisson(2) (many ties: average ranks, quantiles on a value)",
           np.random.default_rng(108).poisson(2.0, size=(4, 250)).astype(float))
    rng = np.random.default_rng(109)
    binary = np.zeros(400)
    binary[:200] = 1.0
    yield ("binary_balanced", "4 chains of 100 of 0/1, exactly half ones (the folded draws are constant)",
           rng.permutation(binary).reshape(4, 100))
    yield ("bernoulli_rare", "4 chains of 200 iid Bernoulli(0.1) (the 5% quantile is 0)",
           (np.random.default_rng(110).random(size=(4, 200)) < 0.1).astype(float))
    # Thirds: at both quantiles ArviZ's (1 - g) x_k + g x_k+1 lands an ulp off the tied value (the 95% one below it,
    # so I(x <= q95) leaves out the tie); only arithmetic identical to scipy's mquantiles gives the same tail ESS.
    yield ("thirds_ties", "4 chains of 169 of round(2 N(0, 1)) / 3 (quantiles rounded off a tie, as in scipy)",
           np.round(np.random.default_rng(369).normal(size=(4, 169)) * 2.0) / 3.0)
    yield "long_ar1", "4 chains of 2000 of AR(1), phi = 0.5", ar1(np.random.default_rng(111), 4, 2000, 0.5)
    yield ("scaled_ar1", "3 chains of 600 of AR(1) phi 0.95, times 1e6, plus 1e7", ar1(
        np.random.default_rng(112), 3, 600, 0.95, 1e6) + 1e7)
    yield "constant", "2 chains of 50 equal to 1.5 (ESS: the number of split draws; R-hat: NaN)", np.full((2, 50), 1.5)
    yield "minimal", "4 chains of 4 draws (the fewest ArviZ accepts)", np.random.default_rng(113).normal(size=(4, 4))
    yield "short_odd", "2 chains of 7 draws", np.random.default_rng(114).normal(size=(2, 7))
    yield ("stuck_chain", "3 chains of 100; chain 2 constant at 0.25 (R-hat large)",
           np.vstack([np.random.default_rng(115).normal(size=(2, 100)), np.full((1, 100), 0.25)]))


def number(x):
    x = float(x)
    return None if math.isnan(x) else x


def main():
    out = {
        "description": "MCMC draws and ArviZ's diagnostics of them; written by tests/eval/arviz_reference.py",
        "versions": {"arviz": az.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                     "python": platform.python_version()},
        "autocorrelation_lags": AUTOCORR_LAGS,
        "cases": [],
    }
    for name, description, draws in cases():
        draws = np.ascontiguousarray(draws, dtype=float)
        data = az.convert_to_dataset({"x": draws})  # dims (chain, draw)
        ess = {m: number(az.ess(data, method=m)["x"]) for m in ("bulk", "tail", "mean")}
        out["cases"].append({
            "name": name,
            "description": description,
            "chains": int(draws.shape[0]),
            "draws": int(draws.shape[1]),
            "values": draws.tolist(),
            "ess_bulk": ess["bulk"],
            "ess_tail": ess["tail"],
            "ess_mean": ess["mean"],
            "rhat": number(az.rhat(data, method="rank")["x"]),
            "autocorrelation_chain0": [number(v) for v in az.autocorr(draws[0])[:AUTOCORR_LAGS]],
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(out, indent=1, allow_nan=False)
    OUT.write_text(text + "\n")
    print(f"wrote {OUT} ({len(text)} bytes, {len(out['cases'])} cases) with ArviZ {az.__version__}", file=sys.stderr)
    for case in out["cases"]:
        print(f"  {case['name']:16s} ess_bulk {case['ess_bulk']!s:>20s}  ess_tail {case['ess_tail']!s:>20s}  "
              f"ess_mean {case['ess_mean']!s:>20s}  rhat {case['rhat']!s:>20s}", file=sys.stderr)


if __name__ == "__main__":
    main()
