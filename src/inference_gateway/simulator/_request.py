"""Validating an OpenAI request body the way vLLM's server does (the parts we simulate).

vLLM refuses bad requests at two layers, and the simulator keeps both (facts from vLLM's
``entrypoints/openai/*/protocol.py`` and ``api_server``): a field of the wrong type, or a
model-level rule such as ``stream_options`` without ``stream: true`` or ``top_logprobs``
without ``logprobs``, fails pydantic validation, which vLLM answers 400 with ``type: "Bad
Request"`` (the HTTP phrase); a well-typed value out of range (negative temperature,
``n: 0``, too many logprobs) fails ``SamplingParams`` and is answered 400 with ``type:
"BadRequestError"``. Both are ``{"error": {"message", "type", "param", "code": 400}}``.

Batch prompts (``prompt: ["a", "b"]`` or lists of token ids) become several prompts; a chat
prompt counts the chat template's tokens too (``tokens.chat_prompt_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from inference_gateway.simulator.tokens import (
    CHARS_PER_TOKEN,
    chat_prompt_tokens,
    chat_text,
    count_tokens,
)

Kind = Literal["chat", "completion"]
MAX_LOGPROBS = 20
"""vLLM's default ``--max-logprobs``."""
SCHEMA = "Bad Request"
SAMPLING = "BadRequestError"


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, kind: str = SAMPLING) -> None:
        super().__init__(message)
        self.param = param
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Sampling:
    n: int = 1
    max_tokens: int | None = None
    ignore_eos: bool = False
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    logprobs: int | None = None
    """Alternatives per token (completions ``logprobs``, chat ``top_logprobs``); None: off."""


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: Kind
    model: str
    prompts: tuple[Prompt, ...]
    sampling: Sampling
    stream: bool
    include_usage: bool
    continuous_usage: bool

    @property
    def prompt_tokens(self) -> int:
        return sum(p.tokens for p in self.prompts)


def _schema(message: str, param: str) -> BadRequest:
    return BadRequest(message, param, SCHEMA)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and not _is_int(value):
        raise _schema(f"{name}: Input should be a valid integer", name)
    return value


def _check_numbers(body: dict[str, Any]) -> None:
    ranges = {
        "temperature": (0.0, None),
        "top_p": (1e-9, 1.0),
        "presence_penalty": (-2.0, 2.0),
        "frequency_penalty": (-2.0, 2.0),
    }
    for name, (low, high) in ranges.items():
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise _schema(f"{name}: Input should be a valid number", name)
        if value < low or (high is not None and value > high):
            bound = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            raise BadRequest(f"{name} must be {bound}, got {value}.", name)


def _stop(body: dict[str, Any]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise _schema("stop: Input should be a valid string or list of strings", "stop")
    ids = body.get("stop_token_ids")
    if ids is None:
        return tuple(s for s in stops if s), ()
    if not isinstance(ids, list) or not all(_is_int(i) for i in ids):
        raise _schema("stop_token_ids: Input should be a list of integers", "stop_token_ids")
    return tuple(s for s in stops if s), tuple(ids)


def _logprobs(kind: Kind, body: dict[str, Any]) -> int | None:
    if kind == "completion":
        count = _optional_int(body, "logprobs")
        if count is not None and count < 0:
            raise BadRequest("logprobs must be non-negative.", "logprobs")
    else:
        wanted = body.get("logprobs", False)
        if wanted is not None and not isinstance(wanted, bool):
            raise _schema("logprobs: Input should be a valid boolean", "logprobs")
        top = _optional_int(body, "top_logprobs")
        if top is not None and not wanted:
            raise _schema(
                "Value error, when using `top_logprobs`, `logprobs` must be set to true.",
                "top_logprobs",
            )
        if top is not None and top < 0:
            raise BadRequest("top_logprobs must be non-negative.", "top_logprobs")
        count = (top or 0) if wanted else None
    if count is not None and count > MAX_LOGPROBS:
        raise BadRequest(
            f"Requested sample logprobs of {count}, which is greater than max allowed: "
            f"{MAX_LOGPROBS}",
            "logprobs",
        )
    return count


def _sampling(kind: Kind, body: dict[str, Any]) -> Sampling:
    _check_numbers(body)
    n = _optional_int(body, "n")
    if n is not None and n < 1:
        raise BadRequest(f"n must be at least 1, got {n}.", "n")
    max_tokens = _optional_int(body, "max_completion_tokens") if kind == "chat" else None
    if max_tokens is None:
        max_tokens = _optional_int(body, "max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise BadRequest(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens")
    ignore_eos = body.get("ignore_eos", False)
    if not isinstance(ignore_eos, bool):
        raise _schema("ignore_eos: Input should be a valid boolean", "ignore_eos")
    stop, stop_ids = _stop(body)
    return Sampling(n or 1, max_tokens, ignore_eos, stop, stop_ids, _logprobs(kind, body))


def _stream(body: dict[str, Any]) -> tuple[bool, bool, bool]:
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _schema("stream: Input should be a valid boolean", "stream")
    options = body.get("stream_options")
    if options is None:
        return stream, False, False
    if not isinstance(options, dict):
        raise _schema("stream_options: Input should be a valid dictionary", "stream_options")
    if not stream:
        raise _schema(
            "Value error, Stream options can only be defined when `stream=True`.",
            "stream_options",
        )
    include = options.get("include_usage", True) is True
    return stream, include, include and options.get("continuous_usage_stats") is True


def parse(kind: Kind, body: Any) -> Parsed:
    """Validate ``body`` for ``kind``; raises ``BadRequest`` as vLLM would answer 400."""
    if not isinstance(body, dict):
        raise _schema("Input should be a valid dictionary or object", "body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _schema("model: Field required", "model")
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _schema("messages: Field required (a non-empty list)", "messages")
        if not all(isinstance(m, dict) for m in messages):
            raise _schema("messages: each message must be an object", "messages")
        text = chat_text(messages)
        prompts: tuple[Prompt, ...] = (Prompt(text, chat_prompt_tokens(messages, text)),)
    else:
        prompts = prompt_list(body.get("prompt"))
    stream, include_usage, continuous = _stream(body)
    return Parsed(kind, model, prompts, _sampling(kind, body), stream, include_usage, continuous)


def prompt_list(prompt: Any, param: str = "prompt") -> tuple[Prompt, ...]:
    """A completion prompt as vLLM accepts it: a string, strings, token ids, lists of ids."""
    if isinstance(prompt, str) and prompt:
        return (Prompt(prompt, count_tokens(prompt)),)
    if isinstance(prompt, list) and prompt:
        if all(_is_int(t) for t in prompt):
            return (_ids_prompt(prompt),)
        if all(isinstance(p, str) and p for p in prompt):
            return tuple(Prompt(p, count_tokens(p)) for p in prompt)
        if all(isinstance(p, list) and p and all(_is_int(t) for t in p) for p in prompt):
            return tuple(_ids_prompt(p) for p in prompt)
    raise _schema(
        f"{param}: Field required (a string, strings, token ids or lists of token ids)", param
    )


def _ids_prompt(ids: list[int]) -> Prompt:
    # token ids: 4 characters of stand-in text per id, so block keys still line up
    return Prompt("".join(f"{t:04x}"[-CHARS_PER_TOKEN:] for t in ids), len(ids))
