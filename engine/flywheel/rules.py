"""The promotion rule: π_k replaces nothing unless it is not worse beyond noise and prefers what people chose.

With the paired difference Δ = metric(π_k) − metric(π_{k−1}) on the same held-out rows and
seeds, its standard error SE, and the sign s = +1 for a metric where higher is better (−1 else):

    promote  ⇔  s·Δ ≥ −max(c·SE, τ)   and   L(preference accuracy of π_k on n held-out pairs) > p_min

with c = project.promote_max_drop_se (default 2), τ = project.promote_tolerance (0.005: a change
too small to matter, however tight its SE) and p_min = project.promote_min_preference (0.5).
L is the one-sided 95 % Wilson lower bound over the n pairs, so the accuracy must be above
p_min beyond noise: 2 of 2 pairs (L = 0.43) is not evidence, 3 of 3 (0.53) or 9 of 10 (0.65) is.
"""

import math
from dataclasses import dataclass

Z_ONE_SIDED_95 = 1.645


def wilson_lower(accuracy, n, z=Z_ONE_SIDED_95):
    """Return the Wilson score lower bound of a proportion `accuracy` observed over n trials (0 for n = 0)."""
    if n <= 0:
        return 0.0
    z2 = z * z
    centre = accuracy + z2 / (2 * n)
    spread = z * math.sqrt(accuracy * (1 - accuracy) / n + z2 / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z2 / n))


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def not_worse(project, comparison):
    """Return (ok, text): the rule's first half, s·Δ ≥ −max(c·SE, τ), on a `trainer compare` report (a vs b).

    ok is None when the report has no held-out value of the project's metric.
    """
    metric = project.promote_metric
    delta, se = comparison.get("delta", {}).get(metric), comparison.get("delta_se", {}).get(metric)
    if delta is None:
        return None, f"no held-out {metric!r}"
    sign = 1 if comparison.get("metric_directions", {}).get(metric, True) else -1
    bound = max(project.promote_max_drop_se * (se or 0.0), project.promote_tolerance)
    change = f"Δ{metric} = {delta:+.4g} ± {se or 0:.2g} (SE)"
    if sign * delta < -bound:
        return False, (f"{change} is worse than −{project.promote_max_drop_se:g} SE and than the tolerance "
                       f"{project.promote_tolerance:g}")
    return True, change


def decide(project, comparison):
    """Return the Decision of the project's rule on a `trainer compare` report."""
    ok, change = not_worse(project, comparison)
    if ok is None:
        return Decision(False, f"the comparison has {change}; kept the deployed checkpoint")
    if not ok:
        return Decision(False, f"{change}; kept the deployed checkpoint")
    preference = (comparison.get("preference") or {}).get("a")
    if preference is None:
        return Decision(False, f"{change}, but no held-out preference accuracy (no held-out DPO pairs); "
                               "kept the deployed checkpoint")
    acc, acc_se, n = preference["accuracy"], preference.get("se") or 0.0, int(preference.get("n") or 0)
    lower = wilson_lower(acc, n)
    pref = f"held-out preference accuracy {acc:.3f} ± {acc_se:.2g} on {n} pairs (95 % lower bound {lower:.3f})"
    if not lower > project.promote_min_preference:
        return Decision(False, f"{change}; {pref} is not above {project.promote_min_preference:g} beyond noise; "
                               "kept the deployed checkpoint")
    return Decision(True, f"{change} (not worse beyond noise); lower bound of {pref} > "
                          f"{project.promote_min_preference:g}; promoted")
