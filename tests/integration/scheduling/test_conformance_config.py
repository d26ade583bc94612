"""GIE's conformance EPP config (``tests/upstream/conformance_plugins.yaml``, verbatim)
through real Envoy, as the suite's GatewayFollowingEPPRouting and
GatewayDestinationEndpointServed tests use it: the ``test-epp-endpoint-selection`` header
names the pod(s) a request may reach, every request lands on one of them, and the response
carries ``x-conformance-test-served-endpoint`` with the endpoint that served it."""

from __future__ import annotations

from pathlib import Path

from inference_gateway.requestcontrol.extensions.conformance import RESULT_HEADER
from inference_gateway.scheduling.plugins.conformance import SELECTION_HEADER
from tests.integration.scheduling.conftest import BASE, cluster, model_doc, specs

CONFIG = Path(__file__).parents[2] / "upstream" / "conformance_plugins.yaml"
HOSTS = ("127.0.0.101", "127.0.0.102", "127.0.0.103")
MODEL = "conformance-fake-model"


async def test_requests_follow_the_selection_header_and_report_who_served(
    tmp_path: Path,
) -> None:
    models = [model_doc(MODEL, "Standard", [BASE])]
    async with cluster(tmp_path, specs(HOSTS), models=models, plugins=str(CONFIG)) as c:
        port = c.pods[0].port
        for pod in c.pods:
            reply = await c.chat(MODEL, headers={SELECTION_HEADER: pod.host})
            assert reply.status == 200, reply.body
            assert reply.served_by == pod.name
            assert reply.headers[RESULT_HEADER] == f"{pod.host}:{port}"
        two = {p.name for p in c.pods[:2]}
        selection = ",".join(p.host for p in c.pods[:2])
        seen = set()
        for _ in range(30):
            reply = await c.chat(MODEL, headers={SELECTION_HEADER: selection})
            assert reply.status == 200, reply.body
            assert reply.served_by in two
            seen.add(reply.served_by)
        assert seen == two
        missing = await c.chat(MODEL)  # no pod named: upstream's ResourceExhausted, a 429
        assert missing.status == 429, missing.body
        assert missing.json()["error"]["code"] == 429
        assert missing.served_by is None
