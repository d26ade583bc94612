"""The test-side template renderer does what Helm does for the subset it supports."""

from __future__ import annotations

import pytest

from tests.unit.deploy.gotemplate import TemplateError, render

SCOPE = {"Values": {"a": {"b": 9002, "labels": {"x": "1", "app": "v"}}, "on": True, "off": False}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("port: {{ .Values.a.b }}", "port: 9002"),
        ("port: {{ .Values.a.b | quote }}", 'port: "9002"'),
        ("l:\n  {{- .Values.a.labels | toYaml | nindent 2 }}\n", "l:\n  app: v\n  x: '1'\n"),
        ("a\n{{- if .Values.on }}\nb\n{{- end }}\nc", "a\nb\nc"),
        ("a\n{{- if .Values.off }}\nb\n{{- end }}\nc", "a\nc"),
        ("x {{ .Values.a.b -}}   \n  y", "x 9002y"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, SCOPE) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ .Values.missing }}",
        '{{ include "x" . }}',
        "{{ .Values.a | default 1 }}",
        "{{ .Values.a }}",
    ],
)
def test_unsupported_or_missing_raises(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, SCOPE)
