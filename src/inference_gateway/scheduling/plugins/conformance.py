"""``header-based-testing-filter``: upstream's conformance suite picks the pod itself.

The suite (GIE ``conformance/resources/base.yaml``) deploys the EPP with a config whose only
profile is this filter (the picker is added by the loader) and sends each request with
``test-epp-endpoint-selection: <ip>[,<ip:port>...]``, then checks which pod answered. So an
EPP that does not know the type cannot even start there. Semantics are upstream's
(``request_header_based_filter.go``): keep the endpoints named, in the header's order, once
per IP; a bare IP matches any port of that IP, ``ip:port`` only that port; IPv6 may come
bracketed. No header, or a blank one, keeps nothing. Only for tests: a client that sets the
header chooses its pod.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Plugin
from inference_gateway.scheduling.types import LLMRequest

SELECTION_HEADER = "test-epp-endpoint-selection"


def _host_port(item: str) -> tuple[str, str]:
    """(host, port) as Go's ``net.SplitHostPort`` splits ``item``, or (IP, "") for a bare
    (possibly bracketed) IP, which it refuses."""
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if item.count(":") == 1:
        host, _, port = item.partition(":")
        return host, port
    return item, ""


class HeaderBasedTestingFilter(Plugin):
    TYPE = "header-based-testing-filter"

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        value = request.headers.get(SELECTION_HEADER, "").strip()
        if not value:
            return []
        by_ip: dict[str, Endpoint] = {}
        by_ip_port: dict[str, Endpoint] = {}
        for e in endpoints:
            by_ip[e.address] = e
            by_ip_port[f"{e.address}:{e.port}"] = e
        kept: list[Endpoint] = []
        seen: set[str] = set()
        for raw in value.split(","):
            item = raw.strip()
            if not item:
                continue
            host, port = _host_port(item)
            host = host.strip("[]")
            found = by_ip_port.get(f"{host}:{port}") if port else by_ip.get(host)
            if found is not None and found.address not in seen:
                seen.add(found.address)
                kept.append(found)
        return kept
