"""An online model of a request's TTFT and TPOT on each pod: shared shape, per-pod speed.

A pod's latency is mostly a product: how much work is ahead of the request (queue, batch,
KV in use, uncached prompt tokens, a LoRA swap) times how fast that pod computes. So a
prediction is ``speed[pod] * (w . x)``. The weights ``w`` are shared by every pod and fit
by recursive least squares on observations divided by their pod's speed, so a pool learns
the shape from all its traffic; ``speed[pod]`` is a per-pod multiplier fit by a running
mean that starts fast (1/n) and settles at ``min_rate``, so a slow pod is seen within a few
of its own responses, and a pod that changes speed is followed.

The two fits must agree on what "typical" means, or the split between speed and weights
drifts with every response: only their product is observed. Speeds fit as a mean of logs
(a geometric mean) against weights fit as a clipped mean ran 20x apart within ~24,000
responses at 400 pods, and a pod that stopped being picked kept the old split, priced 8x
too slow and left idle (docs/benchmarks, session 19). So a speed follows the same clipped
residual the weights learn from (``Target.observe``), in the same units.

Weights are kept non-negative (projected RLS). Both fits are O(d^2) per observation with
d <= 8 and no allocation beyond a few lists; nothing trains in the background and nothing
blocks. With no observation at all the prior
weights (an H100 with Llama-3-8B, sized from the simulator's calibrated step model) and
unit speeds make the prediction a plain load estimate from queue, in-flight and KV use.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from itertools import repeat
from operator import getitem, mul, truediv

_FORGET = 1.0 - 1.0 / 4000
"""RLS forgetting factor: observations weigh half after ~2,800 newer ones."""
_P0 = 10.0
"""Initial covariance: how loosely the prior weights are held (in squared feature units)."""
_SPEED_RANGE = (0.05, 50.0)
_CLIP = 4.0
"""Residuals are clipped at this many mean absolute residuals..."""
_CLIP_AFTER = 50
"""...once this many observations have set the scale."""
_RESIDUAL_RATE = 0.01
"""Floor of the mean absolute residual's step (1/n before): ~100 observations of memory."""
_SPEED_CLIP_AFTER = 10
"""A pod's own responses before its speed's residuals are clipped like the weights': its
first ones are learned in full, so a slow pod (or a probed one) is priced at once."""
_GAUGE_SLACK = 0.1
"""How far (natural log) the speeds' geometric mean may wander from 1 before the fit is
rescaled (``Target.recenter``)."""


def _initial_covariance(d: int) -> list[list[float]]:
    return [[_P0 if i == j else 0.0 for j in range(d)] for i in range(d)]


class Rls:
    """Recursive least squares over ``len(prior)`` features with exponential forgetting.

    Residuals beyond ``_CLIP`` mean absolute residuals are clipped once ``_CLIP_AFTER``
    observations have set that scale (a Huber-like fit): a TTFT stretched by a wait the
    features cannot see (a LoRA swap queue, a preemption) would otherwise drag the shared
    weights for every pod.
    """

    __slots__ = ("max_trace", "mean_abs_residual", "n", "p", "resets", "w")

    def __init__(self, prior: Sequence[float]) -> None:
        d = len(prior)
        self.w = list(prior)
        self.p = _initial_covariance(d)
        self.max_trace = _P0 * d
        """Forgetting pauses once the covariance is as loose as the prior's. Features that
        barely vary (KV use pinned under overload, next to the constant) otherwise wound
        it up ~1,000x in those directions within ~40,000 responses; the huge gains there,
        cut by the non-negativity projection, grew the residuals, which widened their own
        clip bound, and the weights ran off to 1e5 (100 pods) and past 1e50 (a synthetic
        stream, ``test_speed_scale``); wound up further, the covariance lost its positive
        diagonal to rounding."""
        self.n = 0
        self.resets = 0
        """Covariance resets: a diagonal that left (0, 2 * max_trace) despite the above."""
        self.mean_abs_residual = 0.0

    # Products are summed by ``sum(map(mul, ...))``: the same additions in the same order
    # as a generator would feed ``sum``, so the same bits, without a frame per element.
    def predict(self, x: Sequence[float]) -> float:
        total: float = sum(map(mul, self.w, x))
        return total

    def update(self, x: Sequence[float], y: float) -> None:
        p, w = self.p, self.w
        px = [sum(map(mul, row, x)) for row in p]
        trace = sum(map(getitem, p, range(len(p))))
        lam = _FORGET if trace < self.max_trace else 1.0
        denom = lam + sum(map(mul, x, px))
        if denom <= 0.0 or not math.isfinite(denom):
            return
        gain = list(map(truediv, px, repeat(denom)))
        err = self.clip(y - sum(map(mul, w, x)), y)
        rate = max(_RESIDUAL_RATE, 1.0 / (self.n + 1))
        self.mean_abs_residual += rate * (abs(err) - self.mean_abs_residual)
        for i, g in enumerate(gain):
            # Every feature adds work, so no weight may go negative: collinear features
            # (queue and in-flight move together) would otherwise trade signs and
            # extrapolate badly off the data seen.
            v = w[i] + g * err
            w[i] = v if v > 0.0 else 0.0
        for i, pxi in enumerate(px):
            row = p[i]
            for j, pxj in enumerate(px):
                row[j] = (row[j] - pxi * pxj / denom) / lam
        bound = 2.0 * self.max_trace
        if not all(0.0 < p[i][i] < bound for i in range(len(p))):
            self.p = _initial_covariance(len(p))
            self.resets += 1
        self.n += 1

    def clip(self, err: float, y: float) -> float:
        """``err`` bounded at ``_CLIP`` mean absolute residuals (once they are known)."""
        if self.n < _CLIP_AFTER:
            return err
        # Scaled by |y| too, so an exact fit (zero residuals) cannot freeze the weights.
        bound = _CLIP * max(self.mean_abs_residual, 0.01 * abs(y))
        return bound if err > bound else -bound if err < -bound else err

    def rescale(self, factor: float) -> None:
        """Fit targets ``factor`` times larger from now on: the weights and the residual
        scale follow; the covariance depends on the features alone and stays."""
        self.w = [v * factor for v in self.w]
        self.mean_abs_residual *= factor


class SpeedTable:
    """Per-pod multipliers, fit as a running mean of observed / shared prediction."""

    __slots__ = ("_count", "_log", "_median", "factors", "min_rate")

    def __init__(self, min_rate: float) -> None:
        self.min_rate = min_rate
        self._log: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self.factors: dict[str, float] = {}
        """pod -> multiplier, kept in step with the fit so a prediction is one dict lookup."""
        self._median: float | None = None
        """The median factor while no factor has changed since it was sorted out."""

    def get(self, pod: str) -> float:
        return self.factors.get(pod, 1.0)

    def observations(self, pod: str) -> int:
        return self._count.get(pod, 0)

    def update(self, pod: str, ratio: float) -> None:
        if not ratio > 0.0 or not math.isfinite(ratio):
            return
        lo, hi = _SPEED_RANGE
        n = self._count.get(pod, 0) + 1
        rate = max(self.min_rate, 1.0 / n)
        old = self.factors.get(pod, 1.0)
        new = old + rate * (min(hi, max(lo, ratio)) - old)
        self._log[pod] = math.log(new)
        self._count[pod] = n
        self.factors[pod] = new
        self._median = None

    def reset(self, pods: Collection[str]) -> dict[str, float]:
        """Price ``pods`` like the median of the other pods, and learn their next response
        in full (step 1): what they taught is too old to trust. With no other pod to go
        by, forget them. Returns the factors they had."""
        before = {pod: self.factors[pod] for pod in pods if pod in self.factors}
        for pod in pods:
            self.forget(pod)
        for pod in pods:
            self.join(pod)
        return before

    def join(self, pod: str) -> None:
        """Price a pod new to the table like the median pod, with its next response learned
        in full (an empty table: the prior). The median is kept until a factor changes, and
        a newcomer priced at it leaves it where it is, so a scale-up of thousands of pods
        between two responses sorts the table once, not once per pod."""
        if pod in self.factors:
            return
        median = self._median
        if median is None:
            if not self.factors:
                return
            ordered = sorted(self.factors.values())
            median = self._median = ordered[len(ordered) // 2]
        self._log[pod] = math.log(median)
        self._count[pod] = 0
        self.factors[pod] = median

    def restore(self, pod: str, factor: float | None) -> None:
        """Set ``pod``'s factor (None: the prior) with its next response learned in full."""
        if factor is None:
            self.forget(pod)
            return
        self._log[pod] = math.log(factor)
        self._count[pod] = 0
        self.factors[pod] = factor
        self._median = None

    def center(self) -> float:
        """Divide every factor by their geometric mean once it is more than
        ``_GAUGE_SLACK`` (in log) away from 1; returns the divisor (1.0: left alone)."""
        logs = self._log
        if not logs:
            return 1.0
        mean = sum(logs.values()) / len(logs)
        if -_GAUGE_SLACK <= mean <= _GAUGE_SLACK:
            return 1.0
        factors = self.factors
        for pod, v in logs.items():
            logs[pod] = v - mean
            factors[pod] = math.exp(v - mean)
        self._median = None
        return math.exp(mean)

    def forget(self, pod: str) -> None:
        self._log.pop(pod, None)
        self._count.pop(pod, None)
        if self.factors.pop(pod, None) is not None:
            self._median = None

    def pods(self) -> list[str]:
        return sorted(self._log)


class Target:
    """One predicted quantity (TTFT or TPOT): shared RLS weights times per-pod speed."""

    __slots__ = ("floor", "rls", "speeds")

    def __init__(self, prior: Sequence[float], *, floor: float, min_rate: float) -> None:
        self.rls = Rls(prior)
        self.speeds = SpeedTable(min_rate)
        self.floor = floor

    def predict(self, pod: str, x: Sequence[float]) -> float:
        return max(self.floor, self.speeds.get(pod) * self.rls.predict(x))

    def recenter(self) -> float:
        """Keep the speeds' geometric mean near 1; returns what they were divided by.

        Only the product of a speed and the shared prediction is observed, so their split
        is free. The fits no longer pull it one way (``observe``), but noise still walks
        it, and a speed far from 1 would leave an unlearned pod, priced at 1, priced unlike
        a typical one (at 400 pods, fits that disagreed drove the speeds to their 0.05 clamp
        and the weights to 1e13). Rescaling both sides leaves every prediction as it was
        (the covariance depends on the features alone)."""
        factor = self.speeds.center()
        if factor != 1.0:
            self.rls.rescale(factor)
        return factor

    def observe(self, pod: str, x: Sequence[float], y: float) -> None:
        """Learn one observation ``y`` made with features ``x`` on ``pod``.

        The speed moves by the residual the weights learn from, clipped the same way once
        the pod has a few responses: both then settle where the clipped residuals average
        zero, and nothing pushes their split (see the module docstring)."""
        if not (y > 0.0 and math.isfinite(y)):
            return
        shared = max(self.floor, self.rls.predict(x))
        speed = self.speeds.get(pod)
        err = y / speed - shared
        if self.speeds.observations(pod) >= _SPEED_CLIP_AFTER:
            err = self.rls.clip(err, y / speed)
        self.speeds.update(pod, speed * (1.0 + err / shared))
        self.rls.update(x, y / self.speeds.get(pod))
