"""Objects the Kubernetes source could not read, as a Prometheus counter.

An object the API server accepted but we cannot validate (a newer CRD, a field we refuse) keeps
its last good version in the datastore; this counter makes that visible to whoever alerts on
it. Values are read at collection time from a callable the composition root passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, Metric

UNREADABLE = "inference_gateway_kubernetes_unreadable_objects"


class UnreadableObjectsCollector:
    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            UNREADABLE,
            "Object versions from the Kubernetes API that failed validation (the last good "
            "version was kept), by watch.",
            labels=["watch"],
        )
        for watch, count in sorted(self._read().items()):
            family.add_metric([watch], count)
        yield family
