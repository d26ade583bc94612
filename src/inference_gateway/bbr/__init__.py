"""Body-based routing: an ext_proc server that lifts the body's ``model`` into a header.

Placed before routing, it lets an ordinary HTTPRoute (or the standalone Envoy route table)
pick a pool by ``X-Gateway-Model-Name`` without parsing JSON itself.

Standalone: ``Gateway(GatewaySettings(..., bbr=BbrRouting(streaming=True)),
bbr_server=BbrServer(streaming=True))`` runs it in-process; Envoy's route table then comes
from ``envoy.bbr_routes`` (RDS from a watched file, so reloads keep working) and the EPP
honours the pool each route names. Alone: ``inference-gateway bbr`` (ports 9004/9005).
"""

from inference_gateway.bbr.server import BbrServer, BbrStats, BodyBasedRouter, serve_bbr

__all__ = ["BbrServer", "BbrStats", "BodyBasedRouter", "serve_bbr"]
