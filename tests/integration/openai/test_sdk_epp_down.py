"""With the EPP down under FailClose, Envoy's own refusal is the same JSON 503 a client
gets from the EPP, with ``Retry-After`` (ext_proc's failure status, mapped)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.integration.gateway.conftest import LLAMA, world
from tests.integration.gateway.test_failure_and_reload import epp_marked_down
from tests.integration.openai.conftest import client_for


async def test_epp_down_fail_close_is_a_json_503(tmp_path: Path) -> None:
    async with world(tmp_path) as w, client_for(w.url) as client:
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "hi"}
        ]
        await client.chat.completions.create(model=LLAMA, messages=messages)
        await w.gateway.epp.stop_grpc()
        await epp_marked_down(w)
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model=LLAMA, messages=messages)
        err = caught.value
        assert err.status_code == 503 and err.response.headers["retry-after"] == "1"
        assert err.response.json() == {
            "error": {
                "message": "the gateway's endpoint picker is unavailable",
                "type": "ServiceUnavailableError",
                "param": None,
                "code": 503,
            }
        }
