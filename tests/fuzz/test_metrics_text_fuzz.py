"""Any Prometheus text through the metrics parser, for every built-in engine mapping.

The parser's contract: a ``Metrics`` whose numbers are sane (counts >= 0, KV usage within
[0, 1]), or ``MetricsParseError``. Inputs are captured real dumps mutated at the byte level,
the lines the mappings read rebuilt from random names, labels and values, and arbitrary text.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference_gateway.datastore import Metrics
from inference_gateway.modelserver.parser import MetricsParseError, parse
from inference_gateway.modelserver.spec import BUILTIN_ENGINES
from tests.fuzz.strategies import mutated_text, seeds, text_mutants

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "modelserver" / "fixtures"
DUMPS = {p.stem: p.read_text(encoding="utf-8") for p in sorted(FIXTURES.glob("*.txt"))}
MAPPINGS = sorted(BUILTIN_ENGINES)
FAMILIES = sorted({f for m in BUILTIN_ENGINES.values() for f in m.families})
_READ = (*FAMILIES, "# TYPE", "# HELP")


def _core(text: str) -> str:
    """Only the lines some mapping reads (and their comments): where mutations matter."""
    return "\n".join(line for line in text.splitlines() if any(f in line for f in _READ))


CORES = {name: _core(text) for name, text in DUMPS.items()}

_VALUE_TEXTS = [
    "0", "1", "-1", "3.5", "1e400", "-1e400", "NaN", "+Inf", "-Inf", "0x10", "1_000", "",
    "1.0.0", "9" * 400, "1e-400", "5 1700000000000", "2 abc",
]  # fmt: skip
_LABEL_NAMES = [
    "model_name", "engine", "running_lora_adapters", "waiting_lora_adapters", "max_lora",
    "block_size", "num_gpu_blocks", "request_type", "kv_cache_block_type", "le",
]  # fmt: skip
_values = st.one_of(
    st.sampled_from(_VALUE_TEXTS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
_label_values = st.one_of(
    st.sampled_from(["", "a,b", "a, b,", "lora-1", "16", "-4", "x" * 200, '\\"', "\\n"]),
    st.text(max_size=12),
)
_labels = st.dictionaries(st.sampled_from(_LABEL_NAMES), _label_values, max_size=4)


@st.composite
def _sample_line(draw: st.DrawFn) -> str:
    name = draw(st.one_of(st.sampled_from(FAMILIES), st.text(max_size=12)))
    labels = draw(_labels)
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    braces: bool = draw(st.booleans())
    head = f"{name}{{{inner}}}" if labels or braces else name
    return f"{head} {draw(_values)}"


_built = st.lists(
    st.one_of(_sample_line(), st.sampled_from(["# TYPE x gauge", "# HELP x y", "", "#"])),
    max_size=12,
).map("\n".join)
texts = st.one_of(
    st.sampled_from(sorted(CORES.values())).flatmap(mutated_text),
    st.sampled_from(sorted(CORES.values())),
    _built,
    st.text(max_size=300),
    st.sampled_from(sorted(DUMPS.values())),
)
MUTANTS = 15


def check(text: str, engine: str) -> None:
    try:
        m = parse(text, BUILTIN_ENGINES[engine], now=5.0)
    except MetricsParseError:
        return
    assert isinstance(m, Metrics)
    assert m.waiting >= 0 and m.running >= 0
    assert math.isfinite(m.kv_usage) and 0.0 <= m.kv_usage <= 1.0
    assert m.max_adapters >= 0
    assert m.updated_at == 5.0
    for count in (m.block_size, m.num_blocks):
        assert count is None or count >= 0


@settings(max_examples=1_500, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, engine=st.sampled_from(MAPPINGS), rnd=seeds)
def test_metrics_parser_never_crashes(text: str, engine: str, rnd: random.Random) -> None:
    """The drawn text and 15 byte-level mutants of it: 1,500 x 16 = 24,000 bodies."""
    check(text, engine)
    for mutant in text_mutants(text, rnd, MUTANTS):
        check(mutant, engine)


def test_the_real_dumps_parse() -> None:
    """The seeds are meaningful: each captured dump reads with its own engine mapping."""
    engine_of = {
        "vllm_full": "vllm",
        "vllm_dp": "vllm",
        "vllm_legacy": "vllm",
        "sglang": "sglang",
        "trtllm_serve": "trtllm-serve",
        "triton": "triton-tensorrt-llm",
    }
    for name, engine in engine_of.items():
        if engine in BUILTIN_ENGINES:
            assert isinstance(parse(DUMPS[name], BUILTIN_ENGINES[engine], now=0.0), Metrics)
