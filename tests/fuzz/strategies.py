"""Hypothesis strategies shared by the fuzz tests: JSON-ish values and mutations of valid input.

Purely random input mostly exercises the first check a parser makes; mutating a document that
is valid reaches the deep checks. ``mutated(doc)`` applies one to four structural edits at
random places (replace a value, delete a key, wrap a value in a list, change a scalar's type,
duplicate a list item), ``mutated_text(text)`` edits characters and lines.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import strategies as st

Doc = Any

_EDGE_SCALARS = st.sampled_from(
    [
        None, True, False, 0, -1, 1, 2**31, 2**63, -(2**64), 10**30, 0.5, -0.0, 1e308,
        float("inf"), float("-inf"), float("nan"), "", " ", "0", "null", "Critical",
        "Sheddable", "x" * 300, "\u0000", "\ud800", "日本語", "-1", "1e9", "200ms", "ñ",
    ]
)  # fmt: skip

scalars = st.one_of(
    _EDGE_SCALARS,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


def _slots(doc: Doc, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every (container path, key) in ``doc``, containers included, root excluded."""
    out: list[tuple[Any, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*path, key))
            out.extend(_slots(value, (*path, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.append((*path, index))
            out.extend(_slots(value, (*path, index)))
    return out


def _get(doc: Doc, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated(
    draw: st.DrawFn,
    doc: Doc,
    *,
    values: st.SearchStrategy[Any] = json_values,
    max_edits: int = 4,
) -> Doc:
    """``doc`` (a deep copy) after one to ``max_edits`` random structural edits."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_edits))):
        slots = _slots(doc)
        if not slots:
            return copy.deepcopy(draw(values))
        *parent_path, key = draw(st.sampled_from(slots))
        parent = _get(doc, tuple(parent_path))
        op = draw(st.sampled_from(["replace", "delete", "wrap", "retype", "dup", "add"]))
        if op == "replace":
            parent[key] = copy.deepcopy(draw(values))
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "retype":
            parent[key] = _retype(parent[key], draw(st.integers(0, 3)))
        elif op == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = copy.deepcopy(draw(values))
        else:
            parent.insert(key, copy.deepcopy(draw(values)))
    return doc


def _retype(value: Any, how: int) -> Any:
    """The same content in another JSON type (what a careless YAML author produces)."""
    if how == 0:
        return str(value)
    if how == 1:
        return {"value": value}
    if how == 2:
        return len(value) if isinstance(value, list | dict | str) else -1
    return None


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few characters or lines inserted, deleted, duplicated or swapped."""
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "dup_line", "drop_line", "swap"]))
        if op in ("dup_line", "drop_line", "swap"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(i, lines[i])
            elif op == "drop_line":
                del lines[i]
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            piece = draw(st.one_of(st.text(max_size=6), st.sampled_from(_TEXT_PIECES)))
            text = text[:pos] + piece + text[pos:]
        else:
            text = text[:pos] + text[pos + draw(st.integers(1, 8)) :]
    return text


_TEXT_PIECES = [
    "{", "}", "[", "]", ":", ": ", "\n", "\n- ", "  ", "'", '"', "#", "&a", "*a", "!!python/object",
    "---\n", "...", "NaN", "+Inf", "-1", "1e999", "\\", ",", "=", '="', "\t", "\x00", "\ufeff",
]  # fmt: skip


# --- fast amplification ---------------------------------------------------------------------
# Hypothesis spends milliseconds drawing one structured example; the code under test takes
# microseconds. So each drawn example is also run as ``k`` cheap byte-level mutants made with
# a ``random.Random`` whose seed Hypothesis draws (a failure still replays and shrinks).

seeds = st.integers(0, 2**32 - 1).map(random.Random)

_BYTE_PIECES = [p.encode("utf-8", "surrogatepass") for p in _TEXT_PIECES] + [
    b"\\ud800", b"\\u0000", b"\xff", b"\xc3", b"1e999", b"-0", b"true", b"null", b'"model"',
]  # fmt: skip


def byte_mutants(data: bytes, rnd: random.Random, k: int) -> list[bytes]:
    """``k`` variants of ``data``: flipped bytes, cuts, splices of punctuation, repeats."""
    out = []
    for _ in range(k):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randint(0, len(b))
            op = rnd.randrange(5)
            if op == 0 and b:
                b[min(pos, len(b) - 1)] = rnd.randrange(256)
            elif op == 1:
                del b[pos : pos + rnd.randint(1, 16)]
            elif op == 2:
                b[pos:pos] = rnd.choice(_BYTE_PIECES)
            elif op == 3:
                b = b[:pos]
            else:
                end = min(len(b), pos + rnd.randint(1, 24))
                b[pos:pos] = b[pos:end] * rnd.randint(1, 4)
        out.append(bytes(b))
    return out


def text_mutants(text: str, rnd: random.Random, k: int) -> list[str]:
    """``byte_mutants`` for text; bytes that stop being UTF-8 are replaced, as a reader would."""
    data = text.encode("utf-8", "surrogatepass")
    return [m.decode("utf-8", "replace") for m in byte_mutants(data, rnd, k)]


FAST_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 0.5, -2.5, 2**63, 1e308, float("nan"), float("inf"), "",
    "x", "-1", "200ms", "1h", "Critical", [], {}, [1, "a"], {"a": 1}, {"pluginRef": "x"},
]  # fmt: skip


def doc_mutants(doc: Doc, rnd: random.Random, k: int, pool: list[Any]) -> list[Doc]:
    """``k`` structural mutants of ``doc`` (``mutated``'s edits, driven by ``rnd``).

    Replacement values come from ``pool``: pass the names the parser knows (plugin types,
    field names) so a mutant stays close enough to valid to reach the deep checks.
    """
    out = []
    for _ in range(k):
        new = copy.deepcopy(doc)
        for _ in range(rnd.randint(1, 2)):
            slots = _slots(new)
            if not slots:
                break
            *parent_path, key = rnd.choice(slots)
            parent = _get(new, tuple(parent_path))
            op = rnd.randrange(10)
            if op >= 6:
                parent[key] = _tweak(parent[key], rnd, pool)
            elif op == 0:
                parent[key] = copy.deepcopy(rnd.choice(pool))
            elif op == 1:
                del parent[key]
            elif op == 2:
                parent[key] = [parent[key]]
            elif op == 3:
                parent[key] = _retype(parent[key], rnd.randrange(4))
            elif op == 4 and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            elif isinstance(parent, dict):
                names = [p for p in pool if isinstance(p, str)] or ["x"]
                parent[rnd.choice(names)] = copy.deepcopy(rnd.choice(pool))
            else:
                parent.insert(key, copy.deepcopy(rnd.choice(pool)))
        out.append(new)
    return out


def _tweak(value: Any, rnd: random.Random, pool: list[Any]) -> Any:
    """A plausible neighbour of ``value``: another number, another known name, the other bool."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return rnd.choice([0, -1, 1, value * 10, value / 10, -value, value + 1, 2**40, 1e-9])
    if isinstance(value, str):
        names = [p for p in pool if isinstance(p, str)]
        return rnd.choice(names) if names and rnd.random() < 0.8 else value + rnd.choice("x-_ ")
    return value
