"""Mutated API documents through the standalone source's whole load path.

What a hot reload does with the file: ``parse_documents`` (YAML, kind dispatch, pydantic
models with the CRD rules), ``desired_state`` and ``Datastore.sync``. The contract: the new
state is applied, or ``ObjectError`` says where the file is wrong and nothing changes; never
any other exception, which would kill the reload task.
"""

from __future__ import annotations

import random
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inference_gateway.api import ObjectError, UnknownKindError, parse_documents
from inference_gateway.api.parse import parse_object
from inference_gateway.datastore import Datastore
from inference_gateway.sources.convert import desired_state
from tests.fuzz.strategies import FAST_VALUES, doc_mutants, mutated, mutated_text, seeds
from tests.unit.api import samples

SAMPLES = [
    samples.pool_v1alpha2(),
    samples.model(),
    samples.pool_v1(),
    samples.objective(),
    samples.rewrite(),
    samples.pod(),
]
TEXT = yaml.safe_dump_all(SAMPLES, sort_keys=False)


def _names(doc: Any) -> set[str]:
    if isinstance(doc, dict):
        return {str(k) for k in doc} | set().union(*(_names(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(_names(v) for v in doc))
    return {doc} if isinstance(doc, str) else set()


POOL: list[Any] = sorted(set().union(*map(_names, SAMPLES)))
_EXTRA: list[Any] = [
    "v1", "Pod", "InferencePool", "inference.networking.k8s.io/v1", "a" * 64, "UPPER", "a.b",
    "-x", "2024-01-01T00:00:00Z", 65536, {"number": 0}, [{"name": "m", "weight": 0}],
]  # fmt: skip
POOL += [*FAST_VALUES, *_EXTRA]
MUTANTS = 10


def apply(docs: list[Any]) -> None:
    """Parse every document, convert and sync, exactly as a reload would."""
    try:
        objects = [parse_object(d) for d in docs]
    except ObjectError as e:
        assert str(e)
        event("rejected")
        return
    event("applied")
    Datastore().sync(desired_state(objects))


def apply_text(text: str) -> None:
    skipped: list[UnknownKindError] = []
    try:
        objects = parse_documents(text, on_unknown=skipped.append)
    except ObjectError as e:
        assert str(e)
        return
    Datastore().sync(desired_state(objects))


_docs = st.lists(st.sampled_from(range(len(SAMPLES))), min_size=1, max_size=4).flatmap(
    lambda picks: mutated([SAMPLES[i] for i in picks], max_edits=2)
)


@settings(max_examples=1_500, suppress_health_check=[HealthCheck.too_slow])
@given(docs=_docs, rnd=seeds)
def test_mutated_documents_apply_or_are_rejected(docs: Any, rnd: random.Random) -> None:
    """The drawn documents and 10 fast mutants of them: 1,500 x 11 = 16,500 loads."""
    if not isinstance(docs, list):
        docs = [docs]
    apply(docs)
    for mutant in doc_mutants(docs, rnd, MUTANTS, POOL):
        apply(mutant if isinstance(mutant, list) else [mutant])


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(mutated_text(TEXT), st.text(max_size=120)))
def test_mutated_yaml_files_apply_or_are_rejected(text: str) -> None:
    """500 files: the samples as multi-document YAML, edited at the character level."""
    apply_text(text)


def test_the_samples_apply() -> None:
    store = Datastore()
    store.sync(desired_state(parse_documents(TEXT)))
    # Both pools are ns/pool: the later document replaces the earlier, as a reload would.
    assert [p.api_version for p in store.pools()] == ["v1"]
    assert [m.model_name for m in store.models()] == ["food-review"]
    assert len(store.pods()) == 1
