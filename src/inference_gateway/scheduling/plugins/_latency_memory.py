"""How long the ``latency-predictor`` trusts a pod's learned speed (``speedMemory``).

A pod learned slow gets nothing while the fast pods have room, so nothing it does would
show that it has recovered (or that it was only slow while warming up). A pod that has
taught nothing for ``memory`` seconds is therefore priced like the pool's median pod until
one request is picked there: the probe. From that pick until the probe's response teaches
its speed (in full: the speed tables restart its step at 1) it is priced as before, so a
pod that is still slow gets one request per silence and not a burst. Through real Envoy a
reset that lasted until the first response drew ~10 requests to a still-slow pod.
"""

from __future__ import annotations

from inference_gateway.scheduling.latency_model import Target
from inference_gateway.scheduling.plugins._latency_parts import Published

_SWEEPS_PER_MEMORY = 8.0
"""A silence is found at most ``memory / 8`` late; each sweep reads every learned pod."""


class SpeedMemory:
    """When each pod last taught something, and the pods awaiting their one probe."""

    __slots__ = ("_heard", "_probing", "_swept", "memory", "published", "tpot", "ttft")

    def __init__(
        self, memory: float | None, ttft: Target, tpot: Target, published: Published
    ) -> None:
        self.memory = memory
        self.ttft, self.tpot, self.published = ttft, tpot, published
        self._heard: dict[str, float] = {}
        """pod -> clock time of its last response that taught a TTFT or a TPOT."""
        self._swept = float("-inf")
        self._probing: dict[str, tuple[float | None, float | None]] = {}
        """Pods priced like the median until probed, with the (TTFT, TPOT) speeds they had."""

    def heard(self, pod: str, now: float) -> None:
        self._heard[pod] = now

    def sweep(self, now: float) -> None:
        """Reset the pods silent for ``memory`` to the median (published with the next
        model: call before ``Published.publish``)."""
        memory = self.memory
        if memory is None or now - self._swept < memory / _SWEEPS_PER_MEMORY:
            return
        self._swept = now
        before = now - memory
        silent = {pod for pod, at in self._heard.items() if at < before}
        if not silent:
            return
        for pod in silent:
            del self._heard[pod]
        ttft = self.ttft.speeds.reset(silent)
        tpot = self.tpot.speeds.reset(silent)
        for pod in silent:
            self._probing[pod] = (ttft.get(pod), tpot.get(pod))
        self.published.changed |= silent

    def picked(self, pod: str, now: float | None) -> bool:
        """A request was picked for ``pod``; True if it was the probe and the pod is now
        priced as before (published at once: the caller drops its cached costs). A probe
        that teaches nothing is tried again after another silence."""
        speeds = self._probing.pop(pod, None)
        if speeds is None:
            return False
        self.ttft.speeds.restore(pod, speeds[0])
        self.tpot.speeds.restore(pod, speeds[1])
        self.published.publish_speeds(pod, self.ttft, self.tpot)
        if now is not None:
            self._heard[pod] = now
        return True

    def recenter(self) -> None:
        """Pin the speeds' scale near 1 (``Target.recenter``), keeping what depends on it in
        step: the speeds kept for pods awaiting their probe, and every pod's published
        speed (published with the next model: call before ``Published.publish``)."""
        ttft, tpot = self.ttft.recenter(), self.tpot.recenter()
        if ttft != 1.0 or tpot != 1.0:
            self.rescaled(ttft, tpot)
            self.published.changed.update(self.ttft.speeds.factors, self.tpot.speeds.factors)

    def rescaled(self, ttft: float, tpot: float) -> None:
        """The speed tables were divided by these: so are the speeds kept for the pods
        awaiting their probe."""
        for pod, (a, b) in self._probing.items():
            self._probing[pod] = (
                None if a is None else a / ttft,
                None if b is None else b / tpot,
            )

    def forget(self, pod: str) -> None:
        self._heard.pop(pod, None)
        self._probing.pop(pod, None)
