"""The live view: what each pod is doing and what the clients are getting, 4 times a second.

Pod state is read from the simulated engines themselves (they run in this process), which
is the truth the EPP's scraper approximates every 50 ms. In ``--plain`` mode the same
numbers go out as one log line every few seconds instead.
"""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from inference_gateway.demo.load import Tally
from inference_gateway.demo.settings import SLOW_POD, DemoSettings
from inference_gateway.demo.summary import CRITICALITIES, LABELS
from inference_gateway.demo.workload import rate_at
from inference_gateway.demo.world import World

_BAR = 30
SATURATION_QUEUE = 5
"""The default saturation detector's queue threshold (scheduling/configs/default.yaml)."""


def render(
    world: World, tally: Tally, *, elapsed: float, settings: DemoSettings, now: float
) -> Panel:
    """The whole live panel for one moment of the run."""
    seconds = settings.seconds
    total = max(1, sum(tally.served.values()))
    pods = Table(box=None, pad_edge=False)
    for name, justify in (
        ("pod", "left"),
        ("waiting", "right"),
        ("running", "right"),
        ("adapters", "left"),
        ("served", "right"),
        ("share", "left"),
    ):
        pods.add_column(name, justify=justify)  # type: ignore[arg-type]
    saturated = True
    for pod in world.pods:
        engine = pod.engine
        waiting = engine.num_waiting
        saturated = saturated and waiting > SATURATION_QUEUE
        served = tally.served[pod.name]
        bar = "█" * round(_BAR * served / total)
        label = pod.name + (" [dim](slow)[/]" if pod.name == SLOW_POD else "")
        queue_style = "red" if waiting > SATURATION_QUEUE else "green"
        pods.add_row(
            label,
            f"[{queue_style}]{waiting}[/]",
            str(engine.num_running),
            " ".join(a.replace("-lora", "") for a in sorted(engine.resident_adapters)) or "-",
            str(served),
            f"[cyan]{bar}[/]",
        )
    if elapsed < seconds:
        offered = rate_at(elapsed, seconds, settings.rate)
        phase = f"offering {offered:g} req/s" + (" (burst)" if offered > settings.rate else "")
    else:
        phase = "schedule done, waiting for answers"
    head = Text.assemble(
        f"{min(elapsed, seconds):4.1f}/{seconds:g} s   ",
        (phase, "bold"),
        f"   sent {tally.sent}   in flight {tally.in_flight}   ",
        f"answered {tally.ok} ({tally.rate(now):.0f}/s)   ",
        (f"errors {tally.errors}", "red" if tally.errors else ""),
    )
    shed = Text.assemble(
        "shed (429): ",
        *(f"{c} {tally.shed[c]}   " for c in CRITICALITIES),
        ("pool saturated" if saturated else "pool has capacity", "red" if saturated else "green"),
    )
    title = f"inference-gateway demo: {LABELS.get(world.policy, world.policy)}"
    return Panel(Group(head, shed, Text(""), pods), title=title, title_align="left")


def plain_line(world: World, tally: Tally, *, elapsed: float) -> str:
    queues = " ".join(f"{p.name}:{p.engine.num_waiting}/{p.engine.num_running}" for p in world.pods)
    shed = sum(tally.shed.values())
    return (
        f"[{world.policy}] {elapsed:5.1f}s sent={tally.sent} ok={tally.ok} shed={shed} "
        f"errors={tally.errors} waiting/running {queues}"
    )


__all__ = ["plain_line", "render"]
