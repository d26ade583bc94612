"""The test-side template renderer does what Helm does for the subset it supports."""

from __future__ import annotations

import pytest

from tests.unit.deploy.gotemplate import TemplateError, render

SCOPE = {
    "Values": {
        "a": {"b": 9002, "labels": {"x": "1", "app": "v"}},
        "on": True,
        "off": False,
        "list": [{"name": "a"}, {"name": "b"}],
        "none": {},
    }
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("port: {{ .Values.a.b }}", "port: 9002"),
        ("port: {{ .Values.a.b | quote }}", 'port: "9002"'),
        ("l:\n  {{- .Values.a.labels | toYaml | nindent 2 }}\n", "l:\n  app: v\n  x: '1'\n"),
        ("a\n{{- if .Values.on }}\nb\n{{- end }}\nc", "a\nb\nc"),
        ("a\n{{- if .Values.off }}\nb\n{{- end }}\nc", "a\nc"),
        ("x {{ .Values.a.b -}}   \n  y", "x 9002y"),
        ("{{ .Values.missing | default 7 }}", "7"),
        ("{{ if gt (.Values.a.b | int) 1 }}many{{ else }}one{{ end }}", "many"),
        ("{{ if eq .Values.a.b 1 }}1{{ else if eq .Values.a.b 9002 }}2{{ else }}3{{ end }}", "2"),
        ("{{ range $k, $v := .Values.a.labels }}{{ $k }}={{ $v }};{{ end }}", "app=v;x=1;"),
        ("{{ range .Values.list }}[{{ .name }}]{{ end }}", "[a][b]"),
        ("{{ with .Values.a.labels }}{{ .app }}{{ end }}{{ with .Values.none }}x{{ end }}", "v"),
        ("{{ $p := .Values.a.b }}{{ if .Values.on }}{{ $p = 1 }}{{ end }}{{ $p }}", "1"),
        ('{{ printf "%s.%s" "a" .Values.a.b }}', "a.9002"),
        ("{{ (index .Values.list 1).name }}", "b"),
        ('{{ if and .Values.on (ne (lower "GKE") "gke") }}x{{ else }}y{{ end }}', "y"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, SCOPE) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ .Values.missing }}",
        '{{ include "x" . }}',
        "{{ .Values.a | upper }}",
        "{{ if .Values.on }}x",
        "{{ .Values.a }}",
    ],
)
def test_unsupported_or_missing_raises(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, SCOPE)
