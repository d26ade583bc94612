"""Builders for the ext_proc ``ProcessingResponse`` messages the handler sends.

Kept apart from the state machine so the handler reads as protocol steps and so these
shapes can be unit tested without a stream. Protocol facts that shaped them:

* the request-headers answer carries the chosen endpoint twice, as a header and as
  ``envoy.lb`` dynamic metadata, with identical values, and clears the route cache so the
  router re-matches on the new header;
* the request body (FULL_DUPLEX_STREAMED) goes back as ``streamed_response`` chunks of at
  most 62,000 bytes (the upstream EPP's ``BodyByteLimit``, under gRPC's and Envoy's 64 KiB
  comfort zone), with ``end_of_stream`` on the last one; a body that fits in one chunk rides
  in the header answer itself (status CONTINUE_AND_REPLACE, which Envoy 1.40 honours in
  full duplex), saving one gRPC message per request, the common case;
* response chunks (STREAMED) are answered one by one, with a body mutation only when the
  bytes changed, so an untouched chunk is never copied back;
* the header answer sets ``content-length`` to the length of the body actually forwarded
  (as upstream does), although Envoy 1.40 in FULL_DUPLEX_STREAMED drops it anyway and
  forwards the body chunked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.type.v3 import http_status_pb2
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from inference_gateway.requestcontrol.errors import error_body, error_headers
from inference_gateway.requestcontrol.types import GatewayError

DESTINATION_HEADER = "x-gateway-destination-endpoint"
SERVED_KEY = "x-gateway-destination-endpoint-served"
LB_NAMESPACE = "envoy.lb"
SUBSET_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_KEY = "x-gateway-destination-endpoint-subset"
ERROR_HEADER = "x-gateway-error"
BODY_CHUNK_BYTES = 62_000

_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD

EMPTY_REQUEST_BODY = pb.ProcessingResponse(request_body=pb.BodyResponse())
EMPTY_REQUEST_TRAILERS = pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
EMPTY_RESPONSE_HEADERS = pb.ProcessingResponse(response_headers=pb.HeadersResponse())
EMPTY_RESPONSE_BODY = pb.ProcessingResponse(response_body=pb.BodyResponse())
EMPTY_RESPONSE_TRAILERS = pb.ProcessingResponse(response_trailers=pb.TrailersResponse())


def _set(name: str, value: str) -> base_pb2.HeaderValueOption:
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=name, raw_value=value.encode()),
        append_action=_OVERWRITE,
    )


def header_mutation(headers: Mapping[str, str]) -> pb.HeaderMutation:
    return pb.HeaderMutation(set_headers=[_set(k, v) for k, v in headers.items()])


def route_headers(
    endpoints: str,
    *,
    content_length: int | None,
    extra: Mapping[str, str] | None = None,
    body: bytes | None = None,
    remove: Sequence[str] = (),
) -> pb.ProcessingResponse:
    """The request-headers answer that sends the request to ``endpoints`` (``ip:port,...``),
    without the request headers named in ``remove``.

    With ``body``, the answer also carries the whole body to forward (CONTINUE_AND_REPLACE),
    so no request-body answer follows.
    """
    out = pb.ProcessingResponse()
    common = out.request_headers.response
    sets = common.header_mutation.set_headers
    _add(sets, DESTINATION_HEADER, endpoints)
    if content_length is not None:
        _add(sets, "content-length", str(content_length))
    if extra:
        for k, v in extra.items():
            _add(sets, k, v)
    if remove:
        common.header_mutation.remove_headers.extend(remove)
    common.clear_route_cache = True
    if body is not None:
        common.status = pb.CommonResponse.CONTINUE_AND_REPLACE
        common.body_mutation.body = body
    lb = out.dynamic_metadata.fields[LB_NAMESPACE].struct_value
    lb.fields[DESTINATION_HEADER].string_value = endpoints
    return out


def _add(
    sets: RepeatedCompositeFieldContainer[base_pb2.HeaderValueOption], name: str, value: str
) -> None:
    """Append a set-header in place: about half the cost of nested constructors."""
    option = sets.add()
    option.header.key = name
    option.header.raw_value = value.encode()
    option.append_action = _OVERWRITE


def request_body_chunks(
    body: bytes, *, end_of_stream: bool = True
) -> Iterator[pb.ProcessingResponse]:
    """``body`` as request-body answers; at least one message, even for an empty body."""
    yield from _chunks(body, end_of_stream)


def response_body(replacement: bytes | None) -> pb.ProcessingResponse:
    """Answer to one STREAMED response chunk: unchanged (None) or replaced."""
    if replacement is None:
        return EMPTY_RESPONSE_BODY
    mutation = pb.CommonResponse(body_mutation=pb.BodyMutation(body=replacement))
    return pb.ProcessingResponse(response_body=pb.BodyResponse(response=mutation))


def _chunks(body: bytes, end_of_stream: bool) -> Iterator[pb.ProcessingResponse]:
    size = len(body)
    start = 0
    while True:
        stop = min(start + BODY_CHUNK_BYTES, size)
        last = stop >= size
        streamed = pb.StreamedBodyResponse(
            body=body if start == 0 and last else body[start:stop],
            end_of_stream=end_of_stream and last,
        )
        mutation = pb.CommonResponse(body_mutation=pb.BodyMutation(streamed_response=streamed))
        yield pb.ProcessingResponse(request_body=pb.BodyResponse(response=mutation))
        if last:
            return
        start = stop


def response_headers(headers: Mapping[str, str]) -> pb.ProcessingResponse:
    if not headers:
        return EMPTY_RESPONSE_HEADERS
    return pb.ProcessingResponse(
        response_headers=pb.HeadersResponse(
            response=pb.CommonResponse(header_mutation=header_mutation(headers))
        )
    )


def answer(status: int, headers: Mapping[str, str], body: bytes) -> pb.ProcessingResponse:
    """A complete response a request-control plugin gives instead of forwarding."""
    return pb.ProcessingResponse(
        immediate_response=pb.ImmediateResponse(
            status=http_status_pb2.HttpStatus(code=status),
            headers=header_mutation(headers),
            body=body,
        )
    )


def immediate(err: GatewayError) -> pb.ProcessingResponse:
    """An error answered by the gateway itself: status, OpenAI JSON body, reason header
    (and ``Retry-After`` on 429 and 503)."""
    return pb.ProcessingResponse(
        immediate_response=pb.ImmediateResponse(
            status=http_status_pb2.HttpStatus(code=err.status),
            headers=header_mutation(
                {
                    "content-type": "application/json",
                    ERROR_HEADER: err.reason,
                    **error_headers(err.status),
                }
            ),
            body=error_body(err),
            details=err.reason,
        )
    )
