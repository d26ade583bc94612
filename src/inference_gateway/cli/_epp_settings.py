"""How the ``epp`` command's flags become ``EppSettings`` parts, with upstream's checks.

Each function takes flag values (as ``_epp_options`` declares them) and returns a settings
part, or raises ``typer.BadParameter`` naming the flag, as upstream's ``Validate`` does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pydantic
import typer
import yaml

from inference_gateway.app.epp import KubernetesSourceSettings
from inference_gateway.extproc.tls import TlsSettings
from inference_gateway.modelserver.datalayer import ScrapeSettings
from inference_gateway.modelserver.spec import VLLM, EngineConfig, MetricSpec
from inference_gateway.sources.kubernetes.lease import LeaderElectionSettings


def log_level_from(explicit: str | None, v: int | None, zap_level: str | None) -> str:
    """Ours (``--log-level``) wins; else zap's level; else ``--v`` (upstream: 2 is the default,
    4 DEBUG, 5 TRACE)."""
    if explicit is not None:
        return explicit
    if zap_level is not None:
        if zap_level.lstrip("-").isdigit():
            return "debug" if abs(int(zap_level)) >= 4 else "info"
        return {"debug": "debug", "info": "info", "error": "error"}.get(zap_level, "info")
    return "debug" if v is not None and v >= 4 else "info"


def plugins_source(
    config_file: Path | None, config_text: str | None, plugins_config: str | None
) -> str | None:
    """Upstream: ``--config-file`` and ``--config-text`` exclude each other."""
    given = [x for x in (config_file, config_text, plugins_config) if x is not None]
    if len(given) > 1:
        raise typer.BadParameter(
            "give at most one of --config-file, --config-text and --plugins-config",
            param_hint="--config-file / --config-text",
        )
    if config_text is not None:
        return config_text if "\n" in config_text else config_text + "\n"
    if config_file is not None:
        _refuse_pool_file(config_file)
        return str(config_file)
    return plugins_config


def _refuse_pool_file(path: Path) -> None:
    """Our ``--config-file`` used to be the pool file: say where that file goes now."""
    try:
        kinds = {d.get("kind") for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)}
    except (OSError, yaml.YAMLError):
        return  # the config loader reports it with the key path
    if kinds - {"EndpointPickerConfig", None}:
        raise typer.BadParameter(
            f"{path} holds {', '.join(sorted(str(k) for k in kinds))} documents: "
            "--config-file is the EndpointPickerConfig (as upstream); pass pool files "
            "as --pool-file",
            param_hint="--config-file",
        )


def kubernetes(
    name: str, namespace: str, group: str, kubeconfig: str | None
) -> KubernetesSourceSettings:
    try:
        return KubernetesSourceSettings.model_validate(
            {
                "pool_name": name,
                "pool_namespace": namespace,
                "pool_group": group,
                "kubeconfig": kubeconfig,
            }
        )
    except pydantic.ValidationError as e:
        raise typer.BadParameter(first_message(e), param_hint="--pool-group") from None


_DEPLOYMENT_POD = re.compile(r"^(.+)-[a-z0-9]+-[a-z0-9]+$")
"""A Deployment's pod name: the Deployment, its ReplicaSet's hash, the pod's suffix."""
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}")
_LABEL_VALUE = re.compile(rf"(?:{_LABEL_NAME})?")


def pool_less(
    selector: str, ports: str | None, namespace: str, group: str, kubeconfig: str | None
) -> KubernetesSourceSettings:
    """Upstream's pool-less mode: ``--endpoint-selector k=v,...`` (equality only, as
    ``labels.ConvertSelectorToLabelsMap``) and ``--endpoint-target-ports 8000,...``; the
    pool is named after the EPP's Deployment, read from ``POD_NAME`` as upstream does."""
    labels: dict[str, str] = {}
    for pair in selector.split(","):
        parts = [part.strip() for part in pair.split("=")]
        if (
            len(parts) != 2
            or not _LABEL_KEY.fullmatch(parts[0])
            or not _LABEL_VALUE.fullmatch(parts[1])
        ):
            raise typer.BadParameter(
                f"{selector!r}: only key=value pairs of label names, comma-separated",
                param_hint="--endpoint-selector",
            )
        labels[parts[0]] = parts[1]
    try:
        numbers = [int(p) for p in (ports or "").split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{ports!r}: comma-separated port numbers", param_hint="--endpoint-target-ports"
        ) from None
    pod = os.environ.get("POD_NAME", "")
    found = _DEPLOYMENT_POD.match(pod)
    if found is None:
        raise typer.BadParameter(
            f"the pool-less mode names its pool after the EPP's Deployment, read from POD_NAME "
            f"(a Deployment's pod name, e.g. epp-5d8f7c9b6-x2k4p), which is {pod!r}",
            param_hint="--endpoint-selector",
        )
    try:
        return KubernetesSourceSettings.model_validate(
            {
                "pool_name": found.group(1),
                "pool_namespace": namespace,
                "pool_group": group,
                "kubeconfig": kubeconfig,
                "endpoint_selector": labels,
                "endpoint_target_ports": tuple(dict.fromkeys(numbers)),
            }
        )
    except pydantic.ValidationError as e:
        raise typer.BadParameter(first_message(e), param_hint="--endpoint-target-ports") from None


def tls(secure: bool, cert_path: Path | None, reload: bool) -> TlsSettings | None:
    if not secure:
        if cert_path is not None or reload:
            raise typer.BadParameter(
                "--cert-path and --enable-cert-reload need --secure-serving",
                param_hint="--cert-path",
            )
        return None
    if reload and cert_path is None:
        raise typer.BadParameter(
            "--enable-cert-reload watches --cert-path; give it", param_hint="--enable-cert-reload"
        )
    return TlsSettings(cert_path=cert_path, reload=reload)


def grpc(
    host: str, port: int, health_port: int, transport: str, inline_small_bodies: bool
) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        "health_port": health_port,
        "transport": transport,
        "inline_small_bodies": inline_small_bodies,
    }


def scrape_target(
    *,
    scheme: str | None,
    path: str | None,
    port: int,
    insecure: bool | None,
    **metrics: str | None,
) -> ScrapeSettings:
    """The scrape flags; metric-name flags replace the default engine's (vLLM's) fields, as
    they named the one mapping before upstream had engine types."""
    if scheme is not None and scheme not in ("http", "https"):
        raise typer.BadParameter(
            f"unexpected {scheme!r}: it can only be 'http' or 'https'",
            param_hint="--model-server-metrics-scheme",
        )
    engines: tuple[EngineConfig, ...] = ()
    if any(v is not None for v in metrics.values()):
        engines = (_engine_from_flags(metrics),)
        try:
            engines[0].to_mapping()
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--*-metric") from None
    values: dict[str, Any] = {
        "scheme": scheme or "http",
        "path": path or "/metrics",
        "port": port or None,
        "insecure_skip_verify": True if insecure is None else insecure,
        "engines": engines,
    }
    try:
        return ScrapeSettings.model_validate(values)
    except pydantic.ValidationError as e:
        raise typer.BadParameter(first_message(e), param_hint="--model-server-metrics-*") from None


def _engine_from_flags(metrics: dict[str, str | None]) -> EngineConfig:
    def spec(flag_value: str | None, builtin: tuple[MetricSpec, ...]) -> str | list[str]:
        return [str(s) for s in builtin] if flag_value is None else flag_value

    return EngineConfig.model_validate(
        {
            "name": VLLM.name,
            "queuedRequestsSpec": spec(metrics["queued"], VLLM.queued),
            "runningRequestsSpec": spec(metrics["running"], VLLM.running),
            "kvUsageSpec": spec(metrics["kv"], VLLM.kv_usage),
            "loraSpec": spec(metrics["lora"], VLLM.lora),
            "cacheInfoSpec": spec(metrics["cache_info"], VLLM.cache_info),
            "cacheBlockSizeLabelName": VLLM.cache_block_size_label,
            "cacheNumBlocksLabelName": VLLM.cache_num_blocks_label,
        }
    )


def leader_election(enabled: bool, pool_name: str | None) -> LeaderElectionSettings | None:
    if not enabled:
        return None
    if pool_name is None:
        raise typer.BadParameter(
            "leader election holds a Lease in the cluster: it needs --pool-name",
            param_hint="--ha-enable-leader-election",
        )
    return LeaderElectionSettings()


def durations(refresh: float | None, staleness: float | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if refresh is not None:
        out["scrape_interval"] = refresh
    if staleness is not None:
        out["metrics_fresh_within"] = staleness
    return out


def first_message(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
