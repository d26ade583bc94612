"""One pure parser from Prometheus exposition text to a normalised ``Metrics``.

A vLLM server exposes several hundred lines, almost all histogram buckets we never read, and the
EPP scrapes every server 20 times a second; ``prometheus_client`` takes ~6 ms for a whole vLLM
body. So the text is cut down first: a ``str.find`` (in C) locates each wanted family's first
sample line, and the search for further samples stops at the next ``# HELP``/``# TYPE`` line,
since the exposition format keeps each family in one group. Each sample line is then split into
its head (name and labels) and its value; the head goes through ``prometheus_client``'s parser
behind a memo, because heads repeat verbatim across scrapes and servers while values change, and
a head with many labels (``vllm:cache_config_info``) costs ~90 us to parse. Whole lines and whole
family groups are memoised too, since most also repeat verbatim (info series, idle gauges, old
LoRA series); this halved the parser's share of ``bench scrape``. Values are read like
``prometheus_client`` reads them (``float``, no ``_`` digit separators).

A line the parser rejects is skipped, so a partial scrape still yields a ``Metrics`` with
defaults for what was missing; a body in which no field could be read at all raises
``MetricsParseError`` (a broken server must go stale, not look idle).

Several matching samples (vLLM data-parallel ranks expose one series per ``engine`` label) are
combined: queued and running requests and block counts are summed, KV usage is averaged.
Non-finite values are ignored; KV usage is clamped to [0, 1] and counts to >= 0.

LoRA follows upstream: ``vllm:lora_requests_info``'s value is the time of its last update; among
series whose running or waiting label is non-empty the greatest value wins, so an idle server
keeps reporting the adapters it ran last (they are still resident). ``max_lora`` is a constant
of the server, so it is read from the newest series even when every adapter list is empty.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

from inference_gateway.datastore.types import Metrics
from inference_gateway.modelserver.spec import EngineMapping, MetricSpec

_Sample = tuple[str, Mapping[str, str], float]
_Combine = Literal["max", "sum"]
_LoraState = tuple[frozenset[str], frozenset[str], int]
_VALUE = operator.itemgetter(2)

# Sized for 256 servers x ~8 read series; heads rarely differ between servers of one model.
# Only heads up to 1 KiB are kept, so a hostile server can pin at most ~8 MiB.
_HEAD_MEMO_SIZE = 8192
# Whole lines and whole family groups too, as most repeat verbatim (info series, idle gauges,
# old LoRA series); a busy server's changing values churn these memos, not the head memo.
_LINE_MEMO_SIZE = 8192
_GROUP_MEMO_SIZE = 4096
_MEMO_MAX_CHARS = 1024
# Longer sample lines are not from a sane exporter; the parser is quadratic on some of them.
_MAX_LINE = 16 * 1024

_RUNNING_LORA = "running_lora_adapters"
_WAITING_LORA = "waiting_lora_adapters"
_MAX_LORA = "max_lora"


class MetricsParseError(ValueError):
    """The body held nothing the engine mapping could read."""


def parse(text: str, mapping: EngineMapping, *, now: float) -> Metrics:
    """Read ``text`` with ``mapping``; ``now`` becomes ``updated_at``."""
    lines = _Lines(text)
    queued = lines.first(mapping.queued)
    running = lines.first(mapping.running)
    kv = lines.first(mapping.kv_usage)
    lora = _lora(lines.first(mapping.lora))
    info = lines.first(mapping.cache_info)
    block_size = _label_int(info, mapping.cache_block_size_label, combine="max")
    if block_size is None:
        block_size = _gauge_int(lines.first(mapping.cache_block_size), combine="max")
    num_blocks = _label_int(info, mapping.cache_num_blocks_label, combine="sum")
    if num_blocks is None:
        num_blocks = _gauge_int(lines.first(mapping.cache_num_blocks), combine="sum")

    core = (mapping.queued, mapping.running, mapping.kv_usage)
    if any(core):
        readable = bool(queued or running or kv)
    else:
        readable = bool(lora is not None or block_size is not None or num_blocks is not None)
    if not readable:
        raise MetricsParseError(
            f"no {mapping.name} metric found in a {len(text)}-character body "
            f"(looked for {', '.join(sorted(mapping.families)) or 'nothing'})"
        )

    running_adapters, waiting_adapters, max_adapters = lora or (frozenset(), frozenset(), 0)
    return Metrics(
        waiting=_count(queued),
        running=_count(running),
        kv_usage=_usage(kv),
        running_adapters=running_adapters,
        waiting_adapters=waiting_adapters,
        max_adapters=max_adapters,
        block_size=block_size,
        num_blocks=num_blocks,
        updated_at=now,
    )


class _Lines:
    """Samples of one body, looked up family by family and only when a spec asks.

    Each lookup is one ``str.find`` scan of the body, so a fallback spec (the pre-0.9 vLLM KV
    name) costs nothing when the primary one matched. Only finite samples are kept: no spec
    reads any other.
    """

    __slots__ = ("_by_family", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._by_family: dict[str, Sequence[_Sample]] = {}

    def first(self, specs: Sequence[MetricSpec]) -> Sequence[_Sample]:
        """Samples of the first spec that matches anything (finite values only)."""
        for spec in specs:
            found = self._by_family.get(spec.family)
            if found is None:
                found = self._by_family[spec.family] = _family_samples(self._text, spec.family)
            if not found:
                continue
            wanted = spec.labels
            if not wanted:
                return found
            hits = [s for s in found if all(s[1].get(k) == v for k, v in wanted)]
            if hits:
                return hits
        return []


def _family_samples(text: str, family: str) -> tuple[_Sample, ...]:
    """The finite samples of ``family``, from its one group in the body."""
    if text.startswith(family):
        start = 0
    else:
        pos = text.find("\n" + family)
        if pos == -1:
            return ()
        start = pos + 1
    group = text[start : _group_end(text, start)]
    if len(group) <= _MEMO_MAX_CHARS:
        return _memo_group(group, family)
    return _group_samples(group, family)


def _group_samples(group: str, family: str) -> tuple[_Sample, ...]:
    n = len(family)
    found: list[_Sample] = []
    for line in group.split("\n"):
        if not line.startswith(family) or len(line) <= n or line[n] not in "{ \t":
            continue
        size = len(line)
        if size <= _MEMO_MAX_CHARS:
            sample = _memo_line(line)
        elif size <= _MAX_LINE:
            sample = _parse_line(line)
        else:
            continue
        if sample is not None and sample[0] == family and math.isfinite(sample[2]):
            found.append(sample)
    return tuple(found)


def _group_end(text: str, start: int) -> int:
    """Where the next family's HELP or TYPE line begins (or the end of the body)."""
    pos = text.find("\n# ", start)
    while pos != -1 and text[pos + 3 : pos + 8] not in ("HELP ", "TYPE "):
        pos = text.find("\n# ", pos + 3)
    return len(text) if pos == -1 else pos


def _parse_line(line: str) -> _Sample | None:
    """One sample line, or None if it is not one ``prometheus_client`` would accept."""
    line = line.rstrip()
    close = line.rfind("}")
    if close != -1:
        cut = close + 1
    else:
        cut = len(line)
        for sep in (" ", "\t"):
            at = line.find(sep)
            if at != -1:
                cut = min(cut, at)
    rest = line[cut:]
    tokens = rest.split()
    if not rest[:1].isspace() or not 1 <= len(tokens) <= 2 or "_" in tokens[0]:
        return None
    try:
        value = float(tokens[0])
    except ValueError:
        return None
    text = line[:cut]
    head = _memo_head(text) if len(text) <= _MEMO_MAX_CHARS else _parse_head(text)
    return None if head is None else (head[0], head[1], value)


def _parse_head(head: str) -> tuple[str, Mapping[str, str]] | None:
    """Name and labels of ``name{labels}`` through prometheus_client (None if it rejects it)."""
    try:
        for family in text_string_to_metric_families(head + " 0"):
            for s in family.samples:
                return s.name, s.labels
    except Exception:  # the parser raises ValueError, IndexError, TypeError... on junk
        return None
    return None


def _count(samples: Sequence[_Sample]) -> int:
    return max(0, round(sum([s[2] for s in samples]))) if samples else 0


def _usage(samples: Sequence[_Sample]) -> float:
    if not samples:
        return 0.0
    return min(1.0, max(0.0, sum([s[2] for s in samples]) / len(samples)))


def _int_or_none(raw: str | float | None) -> int | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _label_int(samples: Sequence[_Sample], label: str, *, combine: _Combine) -> int | None:
    if not label:
        return None
    values = [v for s in samples if (v := _int_or_none(s[1].get(label))) is not None]
    return _combine(values, combine)


def _gauge_int(samples: Sequence[_Sample], *, combine: _Combine) -> int | None:
    values = [v for s in samples if (v := _int_or_none(s[2])) is not None]
    return _combine(values, combine)


def _combine(values: list[int], combine: _Combine) -> int | None:
    if not values:
        return None
    return max(values) if combine == "max" else sum(values)


def _lora(samples: Sequence[_Sample]) -> _LoraState | None:
    if not samples:
        return None
    active = [s for s in samples if s[1].get(_RUNNING_LORA) or s[1].get(_WAITING_LORA)]
    if not active:
        newest = max(samples, key=_VALUE)[1]
        return _lora_state("", "", newest.get(_MAX_LORA))
    chosen = max(active, key=_VALUE)[1]
    return _lora_state(
        chosen.get(_RUNNING_LORA, ""), chosen.get(_WAITING_LORA, ""), chosen.get(_MAX_LORA)
    )


@functools.lru_cache(maxsize=1024)
def _lora_state(running: str, waiting: str, max_lora: str | None) -> _LoraState:
    """Adapter sets and slot count from one series' labels (memoised: label values repeat)."""
    return _adapter_set(running), _adapter_set(waiting), _int_or_none(max_lora) or 0


def _adapter_set(raw: str) -> frozenset[str]:
    return frozenset(a.strip() for a in raw.split(",") if a.strip())


_memo_head = functools.lru_cache(maxsize=_HEAD_MEMO_SIZE)(_parse_head)
_memo_line = functools.lru_cache(maxsize=_LINE_MEMO_SIZE)(_parse_line)
_memo_group = functools.lru_cache(maxsize=_GROUP_MEMO_SIZE)(_group_samples)
