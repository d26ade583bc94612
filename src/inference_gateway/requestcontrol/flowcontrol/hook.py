"""Where flow control meets the director and the ext_proc handler (issue 16).

The director calls ``FlowHook.check`` once it knows the request's model, pool, priority
and candidates, just before scheduling. With nothing queued and room in the pool it
returns and the request is scheduled at once (the sync fast path). Otherwise it raises
``Held``, which the director lets through and the handler catches: the handler awaits
``Held.wait()``, which returns the ``Routed`` once the dispatcher has scheduled the request
(the director's ``resume``), or raises the queue's 429/503.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from inference_gateway.datastore import Datastore, Endpoint, PoolInfo
from inference_gateway.requestcontrol.debug_header import DEBUG_HEADER
from inference_gateway.requestcontrol.flowcontrol.admission import (
    FlowControl,
    QueueLabels,
    Ticket,
)
from inference_gateway.requestcontrol.flowcontrol.types import (
    PRIORITY_OF,
    FlowKey,
    fairness_header,
    fairness_id,
)
from inference_gateway.requestcontrol.resolve import objective_name
from inference_gateway.requestcontrol.routed import Routed
from inference_gateway.requestcontrol.types import IncomingRequest
from inference_gateway.scheduling.observe import objectives
from inference_gateway.scheduling.types import LLMRequest


class Held(Exception):
    """The request waits in flow control; ``await wait()`` for its ``Routed``."""

    def __init__(self, flow: FlowControl, ticket: Ticket) -> None:
        super().__init__("held by flow control")
        self.flow = flow
        self.ticket = ticket

    async def wait(self) -> Routed:
        routed = await self.flow.wait(self.ticket)
        assert isinstance(routed, Routed)
        return routed


class FlowHook:
    def __init__(self, flow: FlowControl, datastore: Datastore) -> None:
        self.flow = flow
        self.datastore = datastore

    def key(self, headers: Mapping[str, str], llm: LLMRequest, pool: PoolInfo) -> FlowKey:
        return FlowKey(fairness_id(fairness_header(headers)), self.priority(headers, llm, pool))

    def priority(self, headers: Mapping[str, str], llm: LLMRequest, pool: PoolInfo) -> int:
        """The InferenceObjective's priority when the header names one, else the
        criticality's (Critical 1, Standard 0, Sheddable -1)."""
        name = objective_name(headers)
        if name:
            objective = self.datastore.objective(pool.namespace, name)
            if objective is not None:
                return objective.priority
        return PRIORITY_OF[llm.criticality.value]

    def check(
        self,
        request: IncomingRequest,
        llm: LLMRequest,
        pool: PoolInfo,
        candidates: list[Endpoint],
        resume: Callable[[Ticket], Routed],
        abandon: Callable[[Routed], None],
    ) -> list[Endpoint]:
        """The candidates to schedule on now; or raise ``Held`` to wait, or ``QueueError``
        (429/503)."""
        flow = self.flow
        if flow.idle(pool.key):  # the fast path: one pass over the candidates
            ceiling = 1.0
            if flow.usage.gates:
                ceiling = flow.usage.ceiling(self.priority(request.headers, llm, pool))
            room = flow.gate.room(candidates, flow.clock(), ceiling)
            if room:
                return room
        key = self.key(request.headers, llm, pool)

        def resumed(ticket: Ticket) -> Routed:
            routed = resume(ticket)
            _explain(routed, ticket)
            return routed

        where = QueueLabels(pool.name, llm.model, llm.target_model)
        slo_ttft = objectives(request.headers)[0]
        ticket = flow.admit(
            pool.key, key, len(request.body), resumed, abandon, candidates, where, slo_ttft
        )
        if ticket is not None:
            raise Held(flow, ticket)
        return self.narrow(candidates)

    def narrow(self, candidates: list[Endpoint]) -> list[Endpoint]:
        """The candidates the gate sees room on (all of them when none has room); the
        dispatcher has already checked the band's usage limit."""
        return self.flow.gate.room(candidates, self.flow.clock()) or candidates


def _explain(routed: Routed, ticket: Ticket) -> None:
    """Prefix ``x-gateway-debug`` (when the client asked for it) with the time queued, in
    its ``key=value; `` form."""
    text = routed.extra_headers.get(DEBUG_HEADER)
    if text is None:
        return
    key = ticket.item.key
    flow = "".join(c if " " < c <= "~" and c not in ";=" else "?" for c in key.fairness_id)
    note = (
        f"queued={ticket.waited * 1000:.1f}ms; band={key.priority}; flow={flow}; "
        f"why={ticket.held_by}; "
    )
    routed.extra_headers = {**routed.extra_headers, DEBUG_HEADER: note + text}
