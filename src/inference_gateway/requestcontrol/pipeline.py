"""Building the director from an EndpointPickerConfig, with one instance per plugin name.

Every configured plugin is built once (``scheduling.config.instantiate``) and that instance
serves every stage it implements: a scorer that also reads responses scores and reads as
one object, and the saturation detector named by ``saturationDetector`` is the configured
instance itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

from inference_gateway.datastore import Datastore
from inference_gateway.requestcontrol.director import Director
from inference_gateway.requestcontrol.extensions.runner import build_chain
from inference_gateway.requestcontrol.flowcontrol.admission import FlowMetrics
from inference_gateway.requestcontrol.flowcontrol.build import build_flow_hook
from inference_gateway.requestcontrol.ports import RequestMetrics
from inference_gateway.requestcontrol.settings import DirectorSettings
from inference_gateway.scheduling.config import SchedulerConfig, instantiate
from inference_gateway.scheduling.framework import Observer
from inference_gateway.scheduling.observe import observers
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler


def build_director(
    datastore: Datastore,
    config: SchedulerConfig,
    *,
    rng: random.Random,
    metrics: RequestMetrics | None = None,
    settings: DirectorSettings | None = None,
    observer: Observer | None = None,
    perf_counter: Callable[[], float] = time.perf_counter,
    clock: Callable[[], float] = time.monotonic,
    flow_metrics: FlowMetrics | None = None,
) -> tuple[Director, Mapping[str, object]]:
    """The director and the plugin instances it runs (by configured name).

    With the ``flowControl`` feature gate, flow control is the admission stage and the
    saturation detector only sets its dispatch gate (as upstream: no separate shedding).
    """
    plugins = instantiate(config, rng)
    scheduler = build_scheduler(
        config, rng=rng, plugins=plugins, observer=observer, perf_counter=perf_counter
    )
    detector = build_saturation_detector(config, plugins)
    flow = build_flow_hook(
        config, datastore, detector, plugins=plugins, metrics=flow_metrics, clock=clock
    )
    director = Director(
        datastore,
        scheduler,
        metrics=metrics,
        admission=detector if flow is None else None,
        extensions=build_chain(plugins.values(), observer=observer),
        flow=flow,
        observers=observers(plugins.values()),
        rng=rng,
        clock=clock,
        settings=settings,
    )
    return director, plugins
