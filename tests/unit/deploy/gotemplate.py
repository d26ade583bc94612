"""Renders the subset of Helm's Go templates our chart uses, so tests need no helm binary.

Actions: output pipelines, ``if``/``else if``/``else``/``end``, ``range $k, $v := X`` and
``range X`` (dot is the item), ``with X``, ``$v := X`` and ``$v = X``, ``{{-``/``-}}``
trimming. Terms: ``.Values.a.b``, ``.``, ``$``, ``$v.a``, strings, integers, ``true``/
``false``, ``( ... )``. Functions (Go's or sprig's meaning): ``eq ne gt ge lt le and or not
default int quote toYaml indent nindent lower kindIs hasKey dict index printf``; a pipe
``X | f a`` passes X as f's last argument. Anything else raises, so a template that grows
beyond the subset fails its test instead of rendering wrongly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\||:=|=|,|[^\s()|,]+)')


class TemplateError(ValueError):
    pass


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, dict | list) and not value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise TemplateError(f"a map or list needs toYaml: {value!r}")
    return str(value)


def _indent(n: int, text: Any) -> str:
    pad = " " * int(n)
    return pad + _text(text).replace("\n", "\n" + pad)


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)
    return re.sub(r"%[sdv]", lambda _m: _text(next(values)), fmt)


def _index(obj: Any, *keys: Any) -> Any:
    for k in keys:
        obj = obj[k] if isinstance(obj, list) else (obj or {}).get(k)
    return obj


def _kind(value: Any) -> str:
    return {dict: "map", list: "slice", str: "string", bool: "bool", int: "int"}.get(
        type(value), "invalid"
    )


FUNCS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
    "not": lambda a: not _truthy(a),
    "default": lambda d, v=None: v if _truthy(v) else d,
    "int": lambda v: int(v or 0),
    "quote": lambda v: json.dumps(_text(v)),
    "toYaml": _to_yaml,
    "indent": _indent,
    "nindent": lambda n, t: "\n" + _indent(n, t),
    "lower": lambda v: _text(v).lower(),
    "kindIs": lambda kind, v: _kind(v) == kind,
    "hasKey": lambda m, k: isinstance(m, dict) and k in m,
    "dict": lambda: {},
    "index": _index,
    "printf": _printf,
}


@dataclass
class _Scope:
    dot: Any
    root: Any
    variables: dict[str, Any] = field(default_factory=dict)

    def child(self, dot: Any) -> _Scope:
        return _Scope(dot, self.root, dict(self.variables))


def _path(value: Any, parts: list[str], where: str) -> Any:
    """Helm's lookup: a missing key is nil (false in ``if``/``with``, the fallback of
    ``default``); printing nil is an error here (Helm prints ``<no value>``)."""
    for part in parts:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise TemplateError(f"{where}: {part!r} of a {type(value).__name__}")
        value = value.get(part)
    return value


class _Expr:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [t for t in _TOKEN.findall(text) if t]
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise TemplateError(f"unexpected end of {self.text!r}")
        self.pos += 1
        return token

    def pipeline(self, scope: _Scope) -> Any:
        value = self.command(scope, None, piped=False)
        while self.peek() == "|":
            self.take()
            value = self.command(scope, value, piped=True)
        return value

    def command(self, scope: _Scope, piped_value: Any, *, piped: bool) -> Any:
        head = self.peek()
        if head in FUNCS:
            self.take()
            args = []
            while self.peek() not in (None, "|", ")"):
                args.append(self.term(scope))
            if piped:
                args.append(piped_value)
            return FUNCS[head](*args)
        if (
            head is not None
            and re.fullmatch(r"[A-Za-z_]\w*", head)
            and head not in ("true", "false", "nil")
        ):
            raise TemplateError(f"unsupported function {head!r}")
        if piped:
            raise TemplateError(f"cannot pipe into {head!r}")
        return self.term(scope)

    def term(self, scope: _Scope) -> Any:
        token = self.take()
        if token == "(":
            value = self.pipeline(scope)
            if self.take() != ")":
                raise TemplateError(f"unbalanced ( in {self.text!r}")
            field_chain = self.peek()
            if field_chain is not None and re.fullmatch(r"(\.\w+)+", field_chain):
                self.take()  # (index .List 0).number
                value = _path(value, field_chain[1:].split("."), field_chain)
            return value
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token in ("true", "false"):
            return token == "true"
        if token == "nil":
            return None
        if token == ".":
            return scope.dot
        if token.startswith("."):
            return _path(scope.dot, token[1:].split("."), token)
        if token.startswith("$"):
            name, _, rest = token.partition(".")
            base = scope.root if name == "$" else scope.variables.get(name)
            if name != "$" and name not in scope.variables:
                raise TemplateError(f"undefined variable {name}")
            return _path(base, rest.split("."), token) if rest else base
        raise TemplateError(f"unsupported expression {token!r} in {self.text!r}")


def _eval(text: str, scope: _Scope) -> Any:
    expr = _Expr(text)
    value = expr.pipeline(scope)
    if expr.peek() is not None:
        raise TemplateError(f"unsupported expression {text!r}")
    return value


# --- parsing into a tree ------------------------------------------------------------------
@dataclass
class _Node:
    kind: str  # text, out, assign, if, range, with
    arg: str = ""
    body: list[_Node] = field(default_factory=list)
    branches: list[tuple[str, list[_Node]]] = field(default_factory=list)
    """``if``: (condition, body) for the ``if`` and each ``else if``."""
    orelse: list[_Node] = field(default_factory=list)


def _parse(template: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    pos, trim_next = 0, False
    for match in _ACTION.finditer(template):
        text = template[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        stack[-1][1].append(_Node("text", text))
        pos, trim_next = match.end(), bool(match.group(3))
        expr = match.group(2)
        word = expr.split(None, 1)[0] if expr else ""
        owner = stack[-1][0]
        if expr.startswith("/*"):
            continue
        if word in ("if", "range", "with"):
            node = _Node(word, expr[len(word) :].strip())
            if word == "if":
                node.branches.append((node.arg, node.body))
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif expr.startswith("else if "):
            if owner is None or owner.kind != "if":
                raise TemplateError("else if without if")
            body: list[_Node] = []
            owner.branches.append((expr[len("else if ") :].strip(), body))
            stack[-1] = (owner, body)
        elif expr == "else":
            if owner is None or owner.kind not in ("if", "with", "range"):
                raise TemplateError("else without if")
            stack[-1] = (owner, owner.orelse)
        elif expr == "end":
            if owner is None:
                raise TemplateError("unbalanced end")
            stack.pop()
        elif re.match(r"\$\w+\s*:?=", expr):
            stack[-1][1].append(_Node("assign", expr))
        else:
            stack[-1][1].append(_Node("out", expr))
    if len(stack) != 1:
        raise TemplateError("unterminated block")
    tail = template[pos:]
    root.append(_Node("text", tail.lstrip() if trim_next else tail))
    return root


def _run(nodes: list[_Node], scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.arg)
        elif node.kind == "out":
            value = _eval(node.arg, scope)
            if value is None:
                raise TemplateError(f"{node.arg}: no value")
            out.append(_text(value))
        elif node.kind == "assign":
            m = re.match(r"(\$\w+)\s*(:?=)\s*(.*)", node.arg, re.S)
            assert m is not None
            name, op, rest = m.groups()
            if op == "=" and name not in scope.variables:
                raise TemplateError(f"assignment to undeclared {name}")
            scope.variables[name] = _eval(rest, scope)
        elif node.kind == "if":
            chosen = next((b for c, b in node.branches if _truthy(_eval(c, scope))), None)
            _run(node.orelse if chosen is None else chosen, scope, out)
        elif node.kind == "with":
            value = _eval(node.arg, scope)
            if _truthy(value):
                _run(node.body, scope.child(value), out)
            else:
                _run(node.orelse, scope, out)
        elif node.kind == "range":
            _range(node, scope, out)


def _range(node: _Node, scope: _Scope, out: list[str]) -> None:
    m = re.match(r"(?:(\$\w+)\s*,\s*(\$\w+)\s*:=\s*)?(.*)", node.arg, re.S)
    assert m is not None
    key_var, value_var, expr = m.groups()
    items = _eval(expr, scope)
    pairs = sorted(items.items()) if isinstance(items, dict) else list(enumerate(items or []))
    for key, value in pairs:
        inner = scope.child(value)
        if key_var:
            inner.variables[key_var], inner.variables[value_var] = key, value
        _run(node.body, inner, out)


def render(template: str, scope: dict[str, Any]) -> str:
    out: list[str] = []
    _run(_parse(template), _Scope(scope, scope), out)
    return "".join(out)


def render_chart(
    chart: Path, *, release: str, namespace: str, values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """All documents of all templates, as ``helm template`` would print them."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    scope = {
        "Values": values
        if values is not None
        else yaml.safe_load((chart / "values.yaml").read_text()),
        "Release": {"Name": release, "Namespace": namespace},
        "Chart": {
            "Name": meta["name"],
            "Version": meta["version"],
            "AppVersion": meta["appVersion"],
        },
    }
    docs: list[dict[str, Any]] = []
    for template in sorted((chart / "templates").glob("*.yaml")):
        rendered = render(template.read_text(), scope)
        docs.extend(d for d in yaml.safe_load_all(rendered) if d is not None)
    return docs
