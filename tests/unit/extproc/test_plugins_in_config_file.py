"""The standalone config may carry its own EndpointPickerConfig; a flag still wins."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inference_gateway.app import Epp, EppSettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.sources.file import load_file, plugins_document

POOL = """\
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {name: pool}
spec:
  selector: {app: m}
  targetPortNumber: 8000
  extensionRef: {name: epp}
"""

SAFETY = """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: safety-policy
  parameters: {denyPatterns: ["forbidden"]}
- type: queue-scorer
schedulingProfiles:
- name: default
  plugins: [{pluginRef: queue-scorer}]
"""


def _write(tmp_path: Path, *docs: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text("---\n".join(docs))
    return path


def test_the_plugins_document_is_found_and_not_a_datastore_object(tmp_path: Path) -> None:
    path = _write(tmp_path, POOL, SAFETY)
    doc = plugins_document(path.read_text())
    assert doc is not None and "safety-policy" in doc
    assert [p.name for p in load_file(path).pools] == ["pool"]
    assert plugins_document(POOL) is None


def _settings(path: Path, plugins: str | None) -> EppSettings:
    return EppSettings(
        pool_file=path,
        grpc=ExtProcSettings(host="127.0.0.1", port=0),
        plugins_config=plugins,
        scrape=False,
    )


async def test_the_file_configures_the_epp_unless_a_flag_says_otherwise(tmp_path: Path) -> None:
    path = _write(tmp_path, POOL, SAFETY)
    async with Epp(_settings(path, None)) as epp:
        assert epp.extensions
    async with Epp(_settings(path, "default")) as epp:
        assert not epp.extensions
    async with Epp(_settings(_write(tmp_path, POOL), None)) as epp:
        assert not epp.extensions


async def test_the_epp_exports_its_scraper_counters(tmp_path: Path) -> None:
    settings = _settings(_write(tmp_path, POOL), None).model_copy(update={"scrape": True})
    async with Epp(settings) as epp:
        text = epp.metrics.render().decode()
    assert "inference_gateway_model_server_scrapes_total" in text
    assert "inference_gateway_model_server_scrape_failing_endpoints" in text


async def test_the_epp_measures_its_own_loop_lag(tmp_path: Path) -> None:
    async with Epp(_settings(_write(tmp_path, POOL), None)) as epp:
        assert epp.loop_lag is not None
        child = epp.loop_lag.lag.labels()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while sum(child.counts) < 2:
            assert loop.time() < deadline, "the monitor never woke"
            await asyncio.sleep(0.01)
        text = epp.metrics.render().decode()
        assert epp.director is not None
        assert epp.director.stalled == epp.loop_lag.stalled  # stalls excuse stale metrics
    assert "inference_extension_event_loop_lag_seconds_count" in text


FLOW = """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: saturation-detector
- type: queue-scorer
- type: max-score-picker
saturationDetector: {pluginRef: saturation-detector}
"""


async def test_flow_control_too_does_not_count_the_loops_stalls(tmp_path: Path) -> None:
    config = tmp_path / "flow.yaml"
    config.write_text(FLOW)
    async with Epp(_settings(_write(tmp_path, POOL), str(config))) as epp:
        assert epp.director is not None and epp.director.flow is not None
        assert epp.loop_lag is not None
        assert epp.director.flow.flow.stalled == epp.loop_lag.stalled
