"""``destination-endpoint-served-verifier``: upstream's conformance suite asks who answered.

Its config (GIE ``conformance/resources/base.yaml``) declares this plugin beside
``header-based-testing-filter``, so an EPP that does not know the type cannot start there.
Upstream's version (``destination_endpoint_served_verifier.go``) copies the endpoint the data
plane reports as having served the request (``envoy.lb`` /
``x-gateway-destination-endpoint-served`` in the response's ext_proc metadata, protocol
proposal 004) into the ``x-conformance-test-served-endpoint`` response header, or a ``fail:``
reason when it is missing. Here the endpoint is the one the handler read from that metadata,
or else from Envoy's ``upstream.address`` attribute, which the standalone Envoy sends.
"""

from __future__ import annotations

from collections.abc import Mapping

from inference_gateway.requestcontrol.extensions.base import ExtensionPlugin, RequestContext

RESULT_HEADER = "x-conformance-test-served-endpoint"
MISSING = "fail: missing envoy lb metadata"


class DestinationEndpointServedVerifier(ExtensionPlugin):
    TYPE = "destination-endpoint-served-verifier"

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        return {RESULT_HEADER: ctx.served_by or MISSING}
