"""The Envoy ext_proc side of the EPP: the per-request state machine (``handler``), the
messages it answers with (``messages``) and the gRPC servers (``server``, with the
``inline`` and ``grpcio`` transports). What composes them into an endpoint picker lives in
``inference_gateway.app``."""
