"""Whatever arrives, ``route`` answers with a routing or a GatewayError, never anything else."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.requestcontrol import GatewayError, IncomingRequest
from tests.unit.requestcontrol.builders import make_director, make_store, model

_STORE = make_store(models=[model("llama", targets=[("a", 3), ("b", 1)]), model("m")])
_DIRECTOR = make_director(_STORE)

header_names = st.sampled_from(
    [
        ":path",
        "x-gateway-model-name-rewrite",
        "x-gateway-inference-objective",
        "x-gateway-debug",
        "x-request-id",
        "content-type",
    ]
) | st.text(max_size=10)
headers = st.dictionaries(header_names, st.text(max_size=30), max_size=6)
paths = st.sampled_from(
    ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", ""]
) | st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {"model": st.sampled_from(["llama", "m", "x"]) | st.text(max_size=5)},
        optional={"messages": json_values, "prompt": json_values, "stream": json_values},
    ).map(lambda v: json.dumps(v).encode())
)
hints = st.none() | st.lists(st.text(max_size=20), max_size=3)


@settings(max_examples=400, deadline=None)
@given(body=bodies, hdrs=headers, path=paths, hint=hints)
def test_route_raises_only_gateway_errors(
    body: bytes, hdrs: dict[str, str], path: str, hint: list[str] | None
) -> None:
    request = IncomingRequest(headers={**hdrs, ":path": path}, body=body, subset_hint=hint)
    try:
        routed = _DIRECTOR.route_now(request)
    except GatewayError as e:
        assert e.status in {400, 404, 429, 500, 503}
        assert e.status != 500, e.__cause__
        return
    assert routed.endpoints
    if routed.body is not None:
        assert json.loads(routed.body)["model"] == routed.target_model
    routed.finish()
    assert _STORE.in_flight(routed.endpoints[0]) == 0
