"""The scheduling framework: runs profiles of plugins and enforces their contracts.

Order of one cycle: refuse an empty candidate list (``NoEndpointsError``, the 503 path);
drop endpoints whose metrics are older than ``staleness`` when at least one endpoint is
fresher (a pod whose scraper died is avoided within that time; 500 ms is ten missed 50 ms
scrapes); then, per profile chosen by the profile handler, run the filters in order and
stop with ``NoCapacityError`` (the 429 path) once nothing is left (or sooner, when an
admitter refuses the request before any profile runs), clamp every scorer's
output to [0, 1], weight and sum it, and let the picker choose. Post-pick plugins (the
prefix index) then learn the primary endpoint. Plugins are timed from here, never from
inside, through an optional ``observer`` fed by an injected ``perf_counter``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.concurrency import ConcurrencyDetector
from inference_gateway.scheduling.config import SchedulerConfig, instantiate
from inference_gateway.scheduling.explain import Explanation
from inference_gateway.scheduling.framework import (
    NOTES_KEY,
    NOW_KEY,
    TRACE_KEY,
    Admitter,
    CycleState,
    Filter,
    Observer,
    Picker,
    PostPick,
    Producer,
    ProfileHandler,
    ProfileResult,
    Scorer,
)
from inference_gateway.scheduling.saturation import Detector, SaturationDetector
from inference_gateway.scheduling.types import (
    Decision,
    LLMRequest,
    NoCapacityError,
    NoEndpointsError,
)
from inference_gateway.scheduling.utilization import UtilizationDetector

DEFAULT_STALENESS = 0.5
_MAX_PROFILE_ROUNDS = 16
_OLDEST_TRUSTED = 0.1
"""Seconds a published view's oldest scrape time is reused without reading every pod."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    filters: tuple[Filter, ...]
    scorers: tuple[tuple[Scorer, float], ...]
    picker: Picker
    producers: tuple[Producer, ...] = ()


def _type(plugin: object) -> str:
    return str(getattr(plugin, "type", type(plugin).__name__))


# Loops over candidates are list comprehensions rather than ``map`` over bound methods or
# ``attrgetter``: CPython 3.11+ specialises float arithmetic and attribute reads in the
# comprehension's bytecode, which makes them about twice as fast at 10-1,000 candidates.


def _clamp(scores: Sequence[float]) -> Sequence[float]:
    # Fast path in C: a NaN anywhere makes the sum NaN, which fails ``total == total``.
    if scores:
        total = sum(scores)
        if total == total and min(scores) >= 0.0 and max(scores) <= 1.0:
            return scores
    # NaN fails both comparisons and becomes 0.0.
    return [s if 0.0 <= s <= 1.0 else (1.0 if s > 1.0 else 0.0) for s in scores]


def _weighted_sum(
    columns: Sequence[Sequence[float]], weights: Sequence[float], n: int
) -> list[float]:
    """totals[i] = ((w1 * s1[i]) + w2 * s2[i]) + ..., in one pass for up to three scorers
    (the built-in profiles). A weight of 1 multiplies exactly, so it adds s[i] as is."""
    if len(columns) == 3:
        (a, b, c), (wa, wb, wc) = columns, weights
        return [wa * x + wb * y + wc * z for x, y, z in zip(a, b, c, strict=True)]
    if len(columns) == 2:
        (a, b), (wa, wb) = columns, weights
        return [wa * x + wb * y for x, y in zip(a, b, strict=True)]
    if not columns:
        return [0.0] * n
    w = weights[0]
    totals = [w * s for s in columns[0]]
    for scores, w in zip(columns[1:], weights[1:], strict=True):
        totals = [t + w * s for t, s in zip(totals, scores, strict=True)]
    return totals


class PluginScheduler:
    """Implements ``scheduling.types.Scheduler``; build it with ``build_scheduler``."""

    def __init__(
        self,
        profiles: Sequence[Profile],
        handler: ProfileHandler,
        *,
        post_pick: Sequence[PostPick] = (),
        admitters: Sequence[Admitter] = (),
        staleness: float | None = DEFAULT_STALENESS,
        observer: Observer | None = None,
        perf_counter: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.profiles: Mapping[str, Profile] = {p.name: p for p in profiles}
        self._names = list(self.profiles)
        self.handler = handler
        self.post_pick = tuple(post_pick)
        self.admitters = tuple(admitters)
        self.staleness = staleness
        self._observer = observer
        self._clock = perf_counter
        self._labels: dict[int, tuple[object, str, str]] = {}
        self._oldest: tuple[tuple[Endpoint, ...], float, float] = ((), 0.0, -math.inf)
        """(a published view, the oldest scrape time in it, when that was read)."""

    def forget(self, endpoint_name: str) -> None:
        """Tell stateful plugins (the prefix index) that an endpoint left the pool."""
        self._tell("forget", endpoint_name)

    def joined(self, endpoint_name: str) -> None:
        """Tell stateful plugins that an endpoint joined the pool (the latency predictor
        prices a newcomer like its peers, not like its prior)."""
        self._tell("joined", endpoint_name)

    def _tell(self, method: str, endpoint_name: str) -> None:
        for plugin in self.post_pick:
            tell = getattr(plugin, method, None)
            if callable(tell):
                tell(endpoint_name)

    def _fresh(self, endpoints: Sequence[Endpoint], now: float) -> Sequence[Endpoint]:
        """``endpoints`` without those scraped longer than ``staleness`` ago, unless that
        is all of them.

        Reading every pod's scrape time cost 125 us a pick at 5,000 pods. The datastore's
        published view is one tuple until the membership changes, its cells updated in
        place, and a pod's scrape time only moves forward; so while the oldest read from
        that tuple is fresh enough nothing in it can be stale, and it is read again only
        when it is not, or ``_OLDEST_TRUSTED`` seconds later (a bound on a scrape time
        that moved back)."""
        assert self.staleness is not None
        threshold = now - self.staleness
        view, oldest, read_at = self._oldest
        trusted = view is endpoints and read_at <= now < read_at + _OLDEST_TRUSTED
        if trusted and oldest >= threshold:
            return endpoints
        oldest = min([e.metrics.updated_at for e in endpoints])
        if isinstance(endpoints, tuple):
            self._oldest = (endpoints, oldest, now)
        if oldest >= threshold:
            return endpoints
        fresh = [e for e in endpoints if e.metrics.updated_at >= threshold]
        return fresh or endpoints

    def _call(self, point: str, plugin: object, fn: Callable[..., Any], *args: Any) -> Any:
        if self._observer is None:
            return fn(*args)
        start = self._clock()
        out = fn(*args)
        seconds = self._clock() - start
        labels = self._labels.get(id(plugin))
        if labels is None or labels[0] is not plugin:
            labels = (plugin, _type(plugin), str(getattr(plugin, "name", "")))
            self._labels[id(plugin)] = labels
        self._observer(point, labels[1], labels[2], seconds)
        return out

    def schedule(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> Decision:
        if not endpoints:
            raise NoEndpointsError("no candidate endpoints")
        candidates = endpoints if self.staleness is None else self._fresh(endpoints, now)
        stale = len(endpoints) - len(candidates)
        cycle_state: CycleState = {TRACE_KEY: [], NOW_KEY: now}
        results: dict[str, ProfileResult | None] = {}
        explanations: dict[str, Explanation] = {}
        errors: dict[str, NoCapacityError] = {}
        for admitter in self.admitters:
            why = self._call(
                "admitter", admitter, admitter.refuse, request, candidates, cycle_state
            )
            if why is not None:
                raise NoCapacityError(why)
        for _ in range(_MAX_PROFILE_ROUNDS):
            chosen = self._call(
                "profile-handler",
                self.handler,
                self.handler.pick_profiles,
                request,
                self._names,
                results,
                cycle_state,
            )
            if not chosen:
                break
            for name in chosen:
                try:
                    result, explanation = self._run(
                        self.profiles[name], request, candidates, cycle_state, stale
                    )
                except NoCapacityError as e:
                    results[name], errors[name] = None, e
                    continue
                results[name], explanations[name] = result, explanation
        primary = self.handler.process_results(request, results)
        outcome = results.get(primary)
        if outcome is None:
            raise errors.get(primary) or NoCapacityError(f"profile {primary!r} picked nothing")
        for plugin in self.post_pick:
            self._call(
                "post-pick", plugin, plugin.on_picked, request, outcome.endpoints[0], cycle_state
            )
        return Decision(
            endpoints=outcome.endpoints, profile=primary, explanation=explanations[primary]
        )

    def _run(
        self,
        profile: Profile,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        cycle_state: CycleState,
        stale: int,
    ) -> tuple[ProfileResult, Explanation]:
        trace: list[tuple[str, int, int]] = cycle_state[TRACE_KEY]
        mark = len(trace)
        for producer in profile.producers:
            self._call("producer", producer, producer.produce, request, endpoints, cycle_state)
        for f in profile.filters:
            n_in = len(endpoints)
            endpoints = self._call("filter", f, f.filter, request, endpoints, cycle_state)
            trace.append((f.name, n_in, len(endpoints)))
            if not endpoints:
                raise NoCapacityError(f"no endpoints left after filter {f.name!r}")
        per_scorer: list[tuple[str, Sequence[float]]] = []
        for scorer, _ in profile.scorers:
            scores = _clamp(
                self._call("scorer", scorer, scorer.score, request, endpoints, cycle_state)
            )
            if len(scores) != len(endpoints):
                raise ValueError(
                    f"scorer {scorer.name!r}: {len(scores)} scores, {len(endpoints)} endpoints"
                )
            per_scorer.append((scorer.name, scores))
        totals = _weighted_sum(
            [s for _, s in per_scorer], [float(w) for _, w in profile.scorers], len(endpoints)
        )
        picked = self._call(
            "picker", profile.picker, profile.picker.pick, request, endpoints, totals, cycle_state
        )
        if not picked:
            raise NoCapacityError(f"picker {profile.picker.name!r} picked nothing")
        base: dict[str, object] = {
            "profile": profile.name,
            "chosen": picked[0].name,
            "candidates": len(endpoints) if not profile.filters else trace[mark][1],
            "stale_dropped": stale,
            "filters": trace[mark:],
            "notes": cycle_state.get(NOTES_KEY) or {},
        }
        return ProfileResult(tuple(picked)), Explanation(base, endpoints, totals, per_scorer)


def build_scheduler(
    config: SchedulerConfig,
    *,
    rng: random.Random,
    plugins: Mapping[str, object] | None = None,
    staleness: float | None = DEFAULT_STALENESS,
    observer: Observer | None = None,
    perf_counter: Callable[[], float] = lambda: 0.0,
) -> PluginScheduler:
    """A ready scheduler over ``plugins``, the instances built once from ``config``
    (``instantiate``; built here, sharing ``rng``, when not given)."""
    if plugins is None:
        plugins = instantiate(config, rng)

    def get(name: str, proto: Any) -> Any:
        if not isinstance(plugins[name], proto):
            raise TypeError(f"plugin {name!r} does not implement {proto.__name__}")
        return plugins[name]

    profiles = [
        Profile(
            name=p.name,
            filters=tuple(get(n, Filter) for n in p.filters),
            scorers=tuple((get(n, Scorer), w) for n, w in p.scorers),
            picker=get(p.picker, Picker),
            producers=tuple(get(n, Producer) for n in p.producers),
        )
        for p in config.profiles
    ]
    # Every configured plugin learns the pick and may refuse, in a profile or not, as
    # upstream registers each declared plugin at every request-control point it implements
    # (a producer that only consumers reach, the prefix index it reads, the admitter).
    names = sorted(config.plugins)
    return PluginScheduler(
        profiles,
        get(config.profile_handler, ProfileHandler),
        post_pick=[p for n in names if isinstance(p := plugins[n], PostPick)],
        admitters=[p for n in names if isinstance(p := plugins[n], Admitter)],
        staleness=staleness,
        observer=observer,
        perf_counter=perf_counter,
    )


def build_saturation_detector(
    config: SchedulerConfig | None = None, plugins: Mapping[str, object] | None = None
) -> Detector:
    """The configured detector (the built instance when ``plugins`` is given), or one with
    the upstream defaults."""
    if config is None or config.saturation_detector is None:
        return SaturationDetector()
    if plugins is not None:
        built = plugins[config.saturation_detector]
        if isinstance(built, SaturationDetector | ConcurrencyDetector | UtilizationDetector):
            return built
    spec = config.plugins[config.saturation_detector]
    for cls in (ConcurrencyDetector, UtilizationDetector):
        if spec.type == cls.TYPE:
            return cls(spec.name, spec.params)
    return SaturationDetector(spec.name, spec.params)
