"""A pod's LoRA adapter slots as a request would find them: which adapters are loaded,
whether every slot is busy, whether requests starve for one, and whether loading another
adapter takes a slot that a later request may need. Read by the latency predictor's
readable model (``_latency_predict``) and by its scoring hot path (``_latency_costs``)."""

from __future__ import annotations

from inference_gateway.datastore.types import Metrics


def lora_slots(m: Metrics, sent: frozenset[str]) -> tuple[frozenset[str], bool]:
    """(the adapters a request finds loaded, whether every slot is busy) on a pod, from
    its last scrape and the adapters the gateway has sent there since (``sent``, from
    its pending requests): an adapter sent into a free slot is loaded by the time the
    next request of it arrives, and the slot it took is no longer free, though the scrape,
    up to an interval old, shows neither. Without it, requests of several cold adapters
    picked between two scrapes all took the one free slot they saw, and all but one
    waited for seconds (docs/benchmarks, session 20)."""
    if not sent:
        return m.running_adapters, len(m.running_adapters | m.waiting_adapters) >= m.max_adapters
    present = m.running_adapters | m.waiting_adapters | sent
    return m.running_adapters | (sent - m.waiting_adapters), len(present) >= m.max_adapters


def starving(m: Metrics) -> bool:
    """Whether some request waits for a LoRA slot and every slot is busy."""
    return (
        bool(m.waiting_adapters - m.running_adapters)
        and len(m.running_adapters | m.waiting_adapters) >= m.max_adapters
    )


def slots_short(m: Metrics, known: frozenset[str] | None) -> bool:
    """Whether loading one more adapter here leaves fewer free slots than the other known
    adapters not here: only then may the slot it takes be one a later request needs. With
    two adapters and two slots a pod (the standalone example) it never is, and charging for
    it anyway kept light load on a third of a 100-pod pool (docs/benchmarks)."""
    if known is None or m.max_adapters < len(known):
        return True  # more known adapters than slots: some always lack one
    present = m.running_adapters | m.waiting_adapters
    return m.max_adapters - len(present) < len(known - present)
