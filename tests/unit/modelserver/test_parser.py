"""The parser on captured-format text for each engine, and on garbage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.datastore.types import Metrics
from inference_gateway.modelserver.parser import MetricsParseError, parse
from inference_gateway.modelserver.spec import (
    BUILTIN_ENGINES,
    SGLANG,
    TRITON_TENSORRT_LLM,
    TRTLLM_SERVE,
    VLLM,
    EngineConfig,
    EngineMapping,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize(
    ("file", "mapping", "expected"),
    [
        (
            "vllm_full.txt",
            VLLM,
            Metrics(
                waiting=3,
                running=7,
                kv_usage=0.4219,
                running_adapters=frozenset({"sql-lora", "tweet-summary-1"}),
                waiting_adapters=frozenset({"tweet-summary-2"}),
                max_adapters=4,
                block_size=16,
                num_blocks=27118,
                updated_at=5.0,
            ),
        ),
        (
            "vllm_legacy.txt",
            VLLM,
            Metrics(
                waiting=0,
                running=2,
                kv_usage=0.0825,
                max_adapters=2,
                block_size=32,
                num_blocks=7431,
                updated_at=5.0,
            ),
        ),
        (
            "vllm_dp.txt",
            VLLM,
            Metrics(
                waiting=5, running=21, kv_usage=0.4, block_size=16, num_blocks=20240, updated_at=5.0
            ),
        ),
        (
            "sglang.txt",
            SGLANG,
            Metrics(
                waiting=2826,
                running=162,
                kv_usage=0.28,
                block_size=1,
                num_blocks=441344,
                updated_at=5.0,
            ),
        ),
        (
            "trtllm_serve.txt",
            TRTLLM_SERVE,
            Metrics(
                waiting=5,
                running=31,
                kv_usage=0.734,
                block_size=32,
                num_blocks=4096,
                updated_at=5.0,
            ),
        ),
        (
            "triton.txt",
            TRITON_TENSORRT_LLM,
            Metrics(
                waiting=6, running=14, kv_usage=0.25, block_size=64, num_blocks=6239, updated_at=5.0
            ),
        ),
    ],
)
def test_engine_fixtures(file: str, mapping: EngineMapping, expected: Metrics) -> None:
    got = parse(fixture(file), mapping, now=5.0)
    assert got == expected


def test_builtin_registry_names() -> None:
    assert set(BUILTIN_ENGINES) == {"vllm", "sglang", "trtllm-serve", "triton-tensorrt-llm"}


def test_vllm_reading_another_engines_text_is_an_error() -> None:
    with pytest.raises(MetricsParseError, match="no vllm metric"):
        parse(fixture("sglang.txt"), VLLM, now=0.0)


def test_kv_primary_name_wins_over_legacy_name() -> None:
    text = "vllm:gpu_cache_usage_perc 0.9\nvllm:kv_cache_usage_perc 0.1\n"
    assert parse(text, VLLM, now=0.0).kv_usage == 0.1


def test_bare_samples_without_help_or_type_and_crlf() -> None:
    text = "vllm:num_requests_waiting 4\r\nvllm:num_requests_running 2\r\n"
    got = parse(text, VLLM, now=1.5)
    assert (got.waiting, got.running, got.updated_at) == (4, 2, 1.5)


def test_similarly_named_family_is_not_read() -> None:
    text = (
        'vllm:num_requests_waiting_by_reason{reason="capacity"} 40\nvllm:num_requests_waiting 1\n'
    )
    assert parse(text, VLLM, now=0.0).waiting == 1


LORA_HEADER = "# TYPE vllm:lora_requests_info gauge\nvllm:num_requests_waiting 0\n"


def lora_line(running: str, waiting: str, ts: float, max_lora: str = "4") -> str:
    return (
        f'vllm:lora_requests_info{{max_lora="{max_lora}",running_lora_adapters="{running}",'
        f'waiting_lora_adapters="{waiting}"}} {ts}\n'
    )


def test_lora_newest_non_empty_series_wins_over_newer_empty_one() -> None:
    text = (
        LORA_HEADER
        + lora_line("a,b", "", 100.0)
        + lora_line("c", "d, e", 200.0)
        + lora_line("", "", 300.0)
        + lora_line("a", "", 150.0)
    )
    got = parse(text, VLLM, now=0.0)
    assert got.running_adapters == {"c"}
    assert got.waiting_adapters == {"d", "e"}
    assert got.active_adapters == {"c", "d", "e"}
    assert got.max_adapters == 4


def test_lora_only_empty_series_still_gives_max_lora() -> None:
    text = LORA_HEADER + lora_line("", "", 100.0, max_lora="3") + lora_line("", "", 90.0, "2")
    got = parse(text, VLLM, now=0.0)
    assert got.active_adapters == frozenset()
    assert got.max_adapters == 3


def test_lora_waiting_only_series_counts_as_non_empty() -> None:
    text = LORA_HEADER + lora_line("", "q", 10.0) + lora_line("", "", 20.0)
    assert parse(text, VLLM, now=0.0).waiting_adapters == {"q"}


def test_partial_scrape_keeps_what_it_can_read() -> None:
    text = (
        "vllm:num_requests_waiting 2\n"
        "vllm:num_requests_running{bad label} 9\n"
        "vllm:kv_cache_usage_perc NaN\n"
        'vllm:cache_config_info{block_size="sixteen",num_gpu_blocks="100"} 1\n'
    )
    got = parse(text, VLLM, now=0.0)
    assert got == Metrics(waiting=2, num_blocks=100, updated_at=0.0)


def test_values_are_clamped_and_non_finite_ignored() -> None:
    text = (
        "vllm:num_requests_waiting -3\n"
        "vllm:num_requests_running +Inf\n"
        "vllm:kv_cache_usage_perc 1.7\n"
    )
    got = parse(text, VLLM, now=0.0)
    assert (got.waiting, got.running, got.kv_usage) == (0, 0, 1.0)


def test_sample_timestamps_and_escaped_labels_are_accepted() -> None:
    text = (
        'vllm:num_requests_waiting{model_name="a\\"b}c"} 6 1732507200000\n'
        "vllm:num_requests_running 1\n"
    )
    assert parse(text, VLLM, now=0.0).waiting == 6


@pytest.mark.parametrize(
    "body",
    [
        "",
        "\n\n",
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        "\x00\x01\x02\xff\xfe binary \x89PNG\r\n\x1a\n",
        "vllm:num_requests_waiting{model_name=",
        "vllm:num_requests_waiting",
        "vllm:num_requests_waiting NaN\nvllm:num_requests_running nan\n",
        "# HELP vllm:num_requests_waiting x\n# TYPE vllm:num_requests_waiting gauge\n",
        "vllm:num_requests_waiting{} abc\n",
        "vllm:num_requests_waiting 1_000\n",
        '{"error": "not found"}',
    ],
)
def test_garbage_raises_parse_error(body: str) -> None:
    with pytest.raises(MetricsParseError):
        parse(body, VLLM, now=0.0)


def test_truncated_body_gives_partial_metrics() -> None:
    full = fixture("vllm_full.txt")
    cut = full[: full.index("vllm:kv_cache_usage_perc{") + 30]
    got = parse(cut, VLLM, now=0.0)
    assert (got.waiting, got.running, got.kv_usage) == (3, 7, 0.0)


def test_user_engine_config_with_label_matchers() -> None:
    config = EngineConfig.model_validate(
        {
            "name": "my-engine",
            "queuedRequestsSpec": 'queue{state="waiting", kind=llm}',
            "runningRequestsSpec": ["running_new", "running_old"],
            "kvUsageSpec": "",
        }
    )
    mapping = config.to_mapping()
    text = (
        'queue{state="waiting",kind="llm"} 4\n'
        'queue{state="waiting",kind="embed"} 100\n'
        'queue{state="running",kind="llm"} 100\n'
        "running_old 3\n"
    )
    got = parse(text, mapping, now=0.0)
    assert (got.waiting, got.running, got.kv_usage) == (4, 3, 0.0)


_LINE = st.one_of(
    st.text(max_size=80),
    st.sampled_from(sorted(VLLM.families)).flatmap(
        lambda fam: st.tuples(
            st.just(fam),
            st.sampled_from(["", "{", "}", " ", "\t", '{a="', '{a="b"}']),
            st.text(max_size=40),
        ).map("".join)
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=12).map("\n".join))
def test_random_text_only_ever_raises_parse_error(text: str) -> None:
    for mapping in BUILTIN_ENGINES.values():
        try:
            got = parse(text, mapping, now=1.0)
        except MetricsParseError:
            continue
        assert got.waiting >= 0 and got.running >= 0
        assert 0.0 <= got.kv_usage <= 1.0 and math.isfinite(got.kv_usage)
        assert got.updated_at == 1.0


def test_search_stays_inside_the_family_group() -> None:
    text = (
        "# HELP vllm:num_requests_waiting w\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        'vllm:num_requests_waiting{engine="0"} 2\n'
        'vllm:num_requests_waiting_by_reason{engine="0",reason="capacity"} 50\n'
        'vllm:num_requests_waiting{engine="1"} 3\n'
        "# HELP other o\n"
        "# TYPE other gauge\n"
        "other 1\n"
        'vllm:num_requests_waiting{engine="2"} 100\n'
    )
    assert parse(text, VLLM, now=0.0).waiting == 5


def test_without_comments_every_sample_line_is_found() -> None:
    text = 'vllm:num_requests_waiting 2\nother 1\nvllm:num_requests_waiting{engine="1"} 3'
    assert parse(text, VLLM, now=0.0).waiting == 5


def test_long_lora_line_is_read_and_absurd_lines_are_skipped() -> None:
    many = ",".join(f"adapter-{i}" for i in range(300))
    text = LORA_HEADER + lora_line(many, "", 10.0)
    assert len(parse(text, VLLM, now=0.0).running_adapters) == 300
    huge = 'vllm:num_requests_running{pad="' + "x" * 20_000 + '"} 5\n'
    got = parse("vllm:num_requests_waiting 1\n" + huge, VLLM, now=0.0)
    assert (got.waiting, got.running) == (1, 0)
