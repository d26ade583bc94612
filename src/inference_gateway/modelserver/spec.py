"""Which Prometheus series mean what, per model-server engine.

Specs are written as upstream writes them in ``core-metrics-extractor`` ``engineConfigs``: a
PromQL instant selector without operators, ``family{label=value,...}``, where ``family`` is the
sample name as it appears in the exposition text (a counter therefore names its ``_total``
sample) and each label must equal the given value. An empty string disables a field. The pod
label ``inference.networking.k8s.io/engine-type`` picks the mapping; unknown or missing engine
types use the default engine (``vllm``). A user entry with a built-in's name replaces that
built-in entirely, as upstream does.

Each field may list several specs; the first one that matches any sample wins. vLLM uses this to
read ``vllm:gpu_cache_usage_perc`` when ``vllm:kv_cache_usage_perc`` (v0.9+) is absent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

DEFAULT_ENGINE = "vllm"

_SPEC_RE = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.S)
_MATCHER_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,"\s]*))\s*')


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One selector: a sample name and the label values a sample must carry."""

    family: str
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> MetricSpec:
        """Parse ``family{a=b,c="d"}``; raises ``ValueError`` naming the bad part."""
        m = _SPEC_RE.match(text)
        if m is None:
            raise ValueError(f"invalid metric spec {text!r}: expected family{{label=value,...}}")
        family, body = m.group(1), m.group(2)
        labels: list[tuple[str, str]] = []
        if body and body.strip():
            for part in _split_matchers(body):
                mm = _MATCHER_RE.fullmatch(part)
                if mm is None:
                    raise ValueError(f"invalid label matcher {part!r} in metric spec {text!r}")
                value = mm.group(2) if mm.group(2) is not None else mm.group(3)
                labels.append((mm.group(1), value.replace('\\"', '"').replace("\\\\", "\\")))
        return cls(family, tuple(labels))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels)

    def __str__(self) -> str:
        if not self.labels:
            return self.family
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in self.labels)
        return f"{self.family}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _split_matchers(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in body:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _specs(*texts: str) -> tuple[MetricSpec, ...]:
    return tuple(MetricSpec.parse(t) for t in texts if t.strip())


@dataclass(frozen=True, slots=True)
class EngineMapping:
    """How to read one engine's exposition; an empty tuple means the field is not read."""

    name: str
    queued: tuple[MetricSpec, ...] = ()
    running: tuple[MetricSpec, ...] = ()
    kv_usage: tuple[MetricSpec, ...] = ()
    lora: tuple[MetricSpec, ...] = ()
    cache_info: tuple[MetricSpec, ...] = ()
    cache_block_size_label: str = ""
    cache_num_blocks_label: str = ""
    cache_block_size: tuple[MetricSpec, ...] = ()
    cache_num_blocks: tuple[MetricSpec, ...] = ()
    families: frozenset[str] = field(init=False, compare=False)
    """Every sample name any spec reads: the parser keeps only these lines."""

    def __post_init__(self) -> None:
        groups = (
            self.queued,
            self.running,
            self.kv_usage,
            self.lora,
            self.cache_info,
            self.cache_block_size,
            self.cache_num_blocks,
        )
        names = frozenset(s.family for g in groups for s in g)
        object.__setattr__(self, "families", names)


class EngineConfig(BaseModel):
    """One ``engineConfigs`` entry, in upstream's camelCase keys; a list gives fallbacks."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    queued_requests_spec: str | list[str] = Field("", alias="queuedRequestsSpec")
    running_requests_spec: str | list[str] = Field("", alias="runningRequestsSpec")
    kv_usage_spec: str | list[str] = Field("", alias="kvUsageSpec")
    lora_spec: str | list[str] = Field("", alias="loraSpec")
    cache_info_spec: str | list[str] = Field("", alias="cacheInfoSpec")
    cache_block_size_label_name: str = Field("", alias="cacheBlockSizeLabelName")
    cache_num_blocks_label_name: str = Field("", alias="cacheNumBlocksLabelName")
    cache_block_size_spec: str | list[str] = Field("", alias="cacheBlockSizeSpec")
    cache_num_blocks_spec: str | list[str] = Field("", alias="cacheNumBlocksSpec")

    def to_mapping(self) -> EngineMapping:
        """Build the mapping; a bad selector raises ``ValueError`` naming the key."""

        def conv(key: str, value: str | list[str]) -> tuple[MetricSpec, ...]:
            try:
                return _specs(*([value] if isinstance(value, str) else value))
            except ValueError as e:
                raise ValueError(f"engineConfigs[{self.name}].{key}: {e}") from e

        return EngineMapping(
            name=self.name,
            queued=conv("queuedRequestsSpec", self.queued_requests_spec),
            running=conv("runningRequestsSpec", self.running_requests_spec),
            kv_usage=conv("kvUsageSpec", self.kv_usage_spec),
            lora=conv("loraSpec", self.lora_spec),
            cache_info=conv("cacheInfoSpec", self.cache_info_spec),
            cache_block_size_label=self.cache_block_size_label_name,
            cache_num_blocks_label=self.cache_num_blocks_label_name,
            cache_block_size=conv("cacheBlockSizeSpec", self.cache_block_size_spec),
            cache_num_blocks=conv("cacheNumBlocksSpec", self.cache_num_blocks_spec),
        )


VLLM = EngineMapping(
    name="vllm",
    queued=_specs("vllm:num_requests_waiting"),
    running=_specs("vllm:num_requests_running"),
    kv_usage=_specs("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    lora=_specs("vllm:lora_requests_info"),
    cache_info=_specs("vllm:cache_config_info"),
    cache_block_size_label="block_size",
    cache_num_blocks_label="num_gpu_blocks",
)
SGLANG = EngineMapping(
    name="sglang",
    queued=_specs("sglang:num_queue_reqs"),
    running=_specs("sglang:num_running_reqs"),
    kv_usage=_specs("sglang:token_usage"),
    cache_info=_specs("sglang:cache_config_info"),
    cache_block_size_label="page_size",
    cache_num_blocks_label="num_pages",
)
TRTLLM_SERVE = EngineMapping(
    name="trtllm-serve",
    queued=_specs("trtllm_num_requests_waiting"),
    running=_specs("trtllm_num_requests_running"),
    kv_usage=_specs("trtllm_kv_cache_utilization"),
    cache_block_size=_specs("trtllm_kv_cache_tokens_per_block"),
    cache_num_blocks=_specs("trtllm_kv_cache_max_blocks"),
)
TRITON_TENSORRT_LLM = EngineMapping(
    name="triton-tensorrt-llm",
    queued=_specs("nv_trt_llm_request_metrics{request_type=waiting}"),
    running=_specs("nv_trt_llm_request_metrics{request_type=scheduled}"),
    kv_usage=_specs("nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=fraction}"),
    cache_block_size=_specs("nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=tokens_per}"),
    cache_num_blocks=_specs("nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=max}"),
)

BUILTIN_ENGINES: Mapping[str, EngineMapping] = MappingProxyType(
    {m.name: m for m in (VLLM, SGLANG, TRTLLM_SERVE, TRITON_TENSORRT_LLM)}
)


class EngineMappings:
    """Resolves an engine-type label to a mapping: user entries over built-ins, then default."""

    def __init__(
        self,
        configs: Iterable[EngineConfig | EngineMapping] = (),
        *,
        default_engine: str = DEFAULT_ENGINE,
    ) -> None:
        table = dict(BUILTIN_ENGINES)
        for c in configs:
            mapping = c.to_mapping() if isinstance(c, EngineConfig) else c
            table[mapping.name] = mapping
        if default_engine not in table:
            raise ValueError(f"defaultEngine {default_engine!r} is not a known engine")
        self._table = table
        self._default = table[default_engine]
        self._warned: set[str] = set()

    def resolve(self, engine_type: str | None) -> EngineMapping:
        if not engine_type:
            return self._default
        found = self._table.get(engine_type)
        if found is not None:
            return found
        if engine_type not in self._warned:
            self._warned.add(engine_type)
            log.warning(
                "unknown engine type %r; reading its metrics as %r", engine_type, self._default.name
            )
        return self._default

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._table)
