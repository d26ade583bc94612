"""Body-based routing: an ext_proc server that lifts the body's ``model`` into a header.

Placed before routing, it lets an ordinary HTTPRoute (or the standalone Envoy route table)
pick a pool by ``X-Gateway-Model-Name`` without parsing JSON itself.
"""

from inference_gateway.bbr.server import BbrServer, BbrStats, BodyBasedRouter, serve_bbr

__all__ = ["BbrServer", "BbrStats", "BodyBasedRouter", "serve_bbr"]
