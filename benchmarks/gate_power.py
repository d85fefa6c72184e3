"""False alarms and detection of candidate gate rules, by simulation of block log ratios.

Each simulated comparison has ``--configs`` configurations and n blocks. A block's log ratio
of configuration j is ``shift_i + bias_j + e_ij (+ log 1.1 for the slowed one)``:

* ``shift_i`` ~ N(0, 0.3): the machine's speed, shared by every configuration;
* ``bias_j`` ~ N(0, --bias): a configuration-specific drift between the two sides, constant
  over blocks (0 when the sides are interleaved, as ``ab`` does; a few % for ``check`` on two
  runs made at different times);
* ``e_ij``: block noise. Stable configurations: N(0, s_j), s_j ~ U(--noise-low,
  --noise-high). A third of the configurations are unstable: in each block, with probability
  --jolt-p, an extra N(0, --jolt) (a round hit by contention). ``--from-db DB`` instead
  resamples the residuals of a measured A/A pair (tags ``--aa``, random signs), configuration
  by configuration; the first configuration whose label contains ``--slowed`` is the one slowed.

Rules (all remove the block's leave-one-out median shift and use Holm over configurations
at alpha = 0.01):

* ``strict-t``: one-sided t-test that the ratio exceeds 1 + threshold (today's gate);
* ``relaxed-t``: t-test that the ratio exceeds 1, and the mean above the threshold;
* ``relaxed-wsr``: Wilcoxon signed-rank test that the ratio exceeds 1, and the
  Hodges-Lehmann estimate above the threshold;
* ``strict-wsr``: signed-rank test that the ratio exceeds 1 + threshold.

Run: ``python benchmarks/gate_power.py --sims 2000`` (about a minute per rule and block count
on one core).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy import stats

from accel_toolkit.analysis._blocks import holm
from accel_toolkit.analysis._signed_rank import hodges_lehmann, signed_rank_p

RULES = ("strict-t", "relaxed-t", "relaxed-wsr", "strict-wsr")


def measured_residuals(db: str, tags: tuple[str, str], slowed: str) -> list[np.ndarray]:
    """Residual log ratios of each configuration of an A/A pair, the slowed one first."""
    from accel_toolkit.analysis._blocks import _shifts, block_log_ratios
    from accel_toolkit.analysis._rounds import round_rows
    from accel_toolkit.store import open_store

    res = open_store(db, create=False).results()
    d, *_ = block_log_ratios(round_rows(res, by="tag", baseline=tags[0], candidate=tags[1]))
    _, loo = _shifts(d.to_numpy(), None)
    r = d.to_numpy() - loo
    cols = sorted(range(r.shape[1]), key=lambda j: slowed not in str(d.columns[j]))
    return [r[:, j][np.isfinite(r[:, j])] for j in cols]


def simulate(
    rng: np.random.Generator,
    sims: int,
    n: int,
    m: int,
    *,
    slow: float,
    bias: float,
    noise: tuple[float, float],
    jolt: float,
    jolt_p: float,
    pool: list[np.ndarray] | None,
) -> np.ndarray:
    """Residual log ratios (sims, n, m), shared shift removed (leave-one-out median)."""
    if pool:
        e = np.empty((sims, n, m))
        for j in range(m):
            src = pool[(j * 7 + 3) % len(pool)] if j else pool[0]
            e[:, :, j] = rng.choice(src, size=(sims, n)) * rng.choice([-1, 1], size=(sims, n))
    else:
        sd = rng.uniform(*noise, size=(sims, 1, m))
        e = rng.normal(size=(sims, n, m)) * sd
        unstable = np.zeros(m, bool)
        unstable[1::3] = True  # config 0 (the one slowed) is stable, as the slowed softmax is
        hit = (rng.random((sims, n, m)) < jolt_p) & unstable
        e += hit * rng.normal(0, jolt, size=(sims, n, m))
    d = e + rng.normal(0, 0.3, size=(sims, n, 1)) + rng.normal(0, bias, size=(sims, 1, m))
    d[:, :, 0] += slow
    loo = np.empty_like(d)
    for j in range(m):
        loo[:, :, j] = np.median(np.delete(d, j, axis=2), axis=2)
    return d - loo


def flagged(r: np.ndarray, rule: str, threshold: float, alpha: float) -> np.ndarray:
    """(sims, m) booleans: configurations the rule calls slower."""
    sims, n, m = r.shape
    lt = math.log1p(threshold)
    if rule.endswith("-t"):
        mean = r.mean(axis=1)
        se = r.std(axis=1, ddof=1) / math.sqrt(n)
        centre = lt if rule.startswith("strict") else 0.0
        p = stats.t.sf((mean - centre) / se, n - 1)
        est = mean
    else:
        centre = lt if rule.startswith("strict") else 0.0
        p = np.array([[signed_rank_p(r[s, :, j] - centre) for j in range(m)] for s in range(sims)])
        est = np.asarray(hodges_lehmann(np.moveaxis(r, 1, 2)))
    adj = np.array([holm(row) for row in p])
    return (adj < alpha) & (est > lt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--blocks", default="6,8,10,12,16,20")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--slow", type=float, default=0.10, help="the real slowdown (0.10 = 10%%)")
    ap.add_argument("--bias", type=float, default=0.0)
    ap.add_argument("--noise-low", type=float, default=0.02)
    ap.add_argument("--noise-high", type=float, default=0.05)
    ap.add_argument("--jolt", type=float, default=0.4)
    ap.add_argument("--jolt-p", type=float, default=0.25)
    ap.add_argument("--from-db", help="resample the residuals of an A/A pair in this database")
    ap.add_argument("--aa", default="aa1,aa2", help="the A/A pair's tags (default aa1,aa2)")
    ap.add_argument(
        "--slowed",
        default="softmax(cols=16",
        help="label of the configuration slowed (default: tiny softmax)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--sequential",
        type=int,
        default=0,
        metavar="MAX",
        help="also look again every 2 blocks up to MAX and count a flag at any "
        "look (the worst case of `ab --sequential`)",
    )
    a = ap.parse_args()
    pool = None
    if a.from_db:
        first, second = a.aa.split(",")
        pool = measured_residuals(a.from_db, (first, second), a.slowed)
    for rule in a.rules.split(","):
        for n in map(int, a.blocks.split(",")):
            out = {}
            for what, slow in (("false_alarms", 0.0), ("detected", math.log1p(a.slow))):
                rng = np.random.default_rng(a.seed)
                top = max(n, a.sequential)
                r = simulate(
                    rng,
                    a.sims,
                    top,
                    a.configs,
                    slow=slow,
                    bias=a.bias,
                    noise=(a.noise_low, a.noise_high),
                    jolt=a.jolt,
                    jolt_p=a.jolt_p,
                    pool=pool,
                )
                f = flagged(r[:, :n], rule, a.threshold, a.alpha)
                for look in range(n + 2, top + 1, 2):
                    f |= flagged(r[:, :look], rule, a.threshold, a.alpha)
                out[what] = float(f.any(axis=1).mean() if slow == 0 else f[:, 0].mean())
            print(
                json.dumps(
                    {
                        "rule": rule,
                        "blocks": n,
                        "sequential": a.sequential,
                        "configs": a.configs,
                        "bias": a.bias,
                        **out,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
