"""Renders the small subset of Helm's Go templates our chart uses, so tests need no helm.

Supported: ``{{ .Values.a.b }}``, ``.Release.Name``/``.Release.Namespace``, ``.Chart.*``,
``{{-``/``-}}`` whitespace trimming, ``{{- if X }}...{{- end }}``, and the pipeline
functions ``quote``, ``toYaml``, ``indent N`` and ``nindent N``. Anything else raises, so a
template that grows beyond the subset fails its test instead of rendering wrongly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


class TemplateError(ValueError):
    pass


def _lookup(path: str, scope: dict[str, Any]) -> Any:
    if not path.startswith("."):
        raise TemplateError(f"unsupported expression {path!r}")
    value: Any = scope
    for part in path[1:].split("."):
        if not isinstance(value, dict) or part not in value:
            raise TemplateError(f"{path}: no value")
        value = value[part]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise TemplateError(f"a map or list needs toYaml: {value!r}")
    return str(value)


def _indent(n: int, text: str) -> str:
    pad = " " * n
    return pad + text.replace("\n", "\n" + pad)


def _evaluate(expr: str, scope: dict[str, Any]) -> str:
    head, *pipes = [p.strip() for p in expr.split("|")]
    value: Any = json.loads(head) if head.startswith('"') else _lookup(head, scope)
    for pipe in pipes:
        name, *args = pipe.split()
        if name == "quote":
            value = json.dumps(_text(value))
        elif name == "toYaml":
            value = yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")
        elif name in ("indent", "nindent") and len(args) == 1:
            value = ("\n" if name == "nindent" else "") + _indent(int(args[0]), _text(value))
        else:
            raise TemplateError(f"unsupported function {pipe!r}")
    return _text(value)


def render(template: str, scope: dict[str, Any]) -> str:
    out: list[str] = []
    emitting = [True]
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(template):
        text = template[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if all(emitting):
            out.append(text)
        pos, trim_next = match.end(), bool(match.group(3))
        expr = match.group(2)
        if expr.startswith("if "):
            emitting.append(bool(_lookup(expr[3:].strip(), scope)))
        elif expr == "end":
            if len(emitting) == 1:
                raise TemplateError("unbalanced end")
            emitting.pop()
        elif all(emitting):
            out.append(_evaluate(expr, scope))
    if len(emitting) != 1:
        raise TemplateError("unterminated if")
    tail = template[pos:]
    out.append(tail.lstrip() if trim_next else tail)
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
