"""The Envoy ext_proc side of the EPP: the per-request state machine (``handler``), the
gRPC servers (``server``), and the composition of a whole gateway (``standalone``)."""
