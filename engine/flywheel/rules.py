"""The promotion rule: π_k is deployed when it is better beyond noise somewhere and worse beyond noise nowhere.

Two pieces of held-out evidence compare π_k with the deployed π_{k−1}: the paired difference
Δ = metric(π_k) − metric(π_{k−1}) on the same rows and seeds, with its standard error SE and the
sign s = +1 for a metric where higher is better (−1 else), and π_k's preference accuracy on n
held-out pairs (d+, d−) that people made, with its one-sided 95 % Wilson bounds L and U:

    not worse:  s·Δ ≥ −max(c·SE, τ)           and   U > p_min
    better:     s·Δ > max(z·SE, τ)            or    L > p_min
    promote  ⇔  not worse  and  better

with c = project.promote_max_drop_se (default 2: a drop within two SE is noise), τ =
project.promote_tolerance (0.005: a change too small to matter, however tight its SE), p_min =
project.promote_min_preference (0.5) and z = 1.645 (one-sided 95 %, as L and U). So 2 of 2 pairs
(L = 0.43) with no change in the metric is no evidence and keeps π_{k−1}; a vIoU gain of six SE
promotes with 7 of 12 pairs (U = 0.80: no sign that π_k prefers what people rejected); 2 of 12
pairs (U = 0.41) keeps π_{k−1} whatever the metric says.
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


def wilson_upper(accuracy, n, z=Z_ONE_SIDED_95):
    """Return the Wilson score upper bound of a proportion (1 for n = 0)."""
    return 1.0 - wilson_lower(1.0 - accuracy, n, z) if n > 0 else 1.0


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def signed_change(project, comparison):
    """Return (s·Δ, SE) of the project's metric in a `trainer compare` report (a vs b), or None without one.

    s = +1 where higher is better and −1 else, so a positive s·Δ is always a gain; SE is 0 when unreported.
    """
    metric = project.promote_metric
    delta, se = comparison.get("delta", {}).get(metric), comparison.get("delta_se", {}).get(metric)
    if delta is None:
        return None
    sign = 1 if comparison.get("metric_directions", {}).get(metric, True) else -1
    return sign * delta, se or 0.0


def not_worse(project, comparison):
    """Return (ok, text): the rule's first half, s·Δ ≥ −max(c·SE, τ), on a `trainer compare` report (a vs b).

    ok is None when the report has no held-out value of the project's metric.
    """
    metric = project.promote_metric
    change = signed_change(project, comparison)
    if change is None:
        return None, f"no held-out {metric!r}"
    gain, se = change
    delta = comparison["delta"][metric]
    text = f"Δ{metric} = {delta:+.4g} ± {se:.2g} (SE)"
    if gain < -max(project.promote_max_drop_se * se, project.promote_tolerance):
        return False, (f"{text} is worse than −{project.promote_max_drop_se:g} SE and than the tolerance "
                       f"{project.promote_tolerance:g}")
    return True, text


def better(project, comparison):
    """Return True if the report's Δ of the project's metric is better beyond noise: s·Δ > max(z·SE, τ)."""
    change = signed_change(project, comparison)
    if change is None:
        return False
    gain, se = change
    return gain > max(Z_ONE_SIDED_95 * se, project.promote_tolerance)


def decide(project, comparison):
    """Return the Decision of the project's rule on a `trainer compare` report."""
    ok, change = not_worse(project, comparison)
    if ok is None:
        return Decision(False, f"the comparison has {change}; kept the deployed checkpoint")
    if not ok:
        return Decision(False, f"{change}; kept the deployed checkpoint")
    bar = project.promote_min_preference
    metric_better = better(project, comparison)
    if metric_better:
        change += " (better beyond noise)"
    preference = (comparison.get("preference") or {}).get("a")
    if preference is None:
        if metric_better:
            return Decision(True, f"{change}; no held-out preference accuracy (no held-out DPO pairs) to say "
                                  "otherwise; promoted")
        return Decision(False, f"{change}, within noise, and no held-out preference accuracy (no held-out DPO "
                               "pairs); kept the deployed checkpoint")
    acc, acc_se, n = preference["accuracy"], preference.get("se") or 0.0, int(preference.get("n") or 0)
    lower, upper = wilson_lower(acc, n), wilson_upper(acc, n)
    pref = (f"held-out preference accuracy {acc:.3f} ± {acc_se:.2g} on {n} pairs (95 % bounds {lower:.3f} to "
            f"{upper:.3f})")
    if not upper > bar:
        return Decision(False, f"{change}; {pref} is below {bar:g} beyond noise (π_k prefers what people "
                               "rejected); kept the deployed checkpoint")
    if lower > bar:
        return Decision(True, f"{change}; {pref}: above {bar:g} beyond noise; promoted")
    if metric_better:
        return Decision(True, f"{change}; {pref}: not below {bar:g} beyond noise; promoted")
    return Decision(False, f"{change}, within noise; {pref} is not above {bar:g} beyond noise either; "
                           "kept the deployed checkpoint")
