"""The console scripts of the contract suites. They need the tools of the ``contract`` extra; without
them, each says how to install them instead of failing on an import."""

from __future__ import annotations

import importlib
import importlib.util
import sys

INSTALL = "pip install 'wan-spark-toolkit[contract]'"
NEEDED = ("hypothesis", "schemathesis", "pytest")


def contract_main() -> int:
    """``spark-contract``."""
    return _run("spark-contract", "contract_tests.spark_contract", "main")


def live_main() -> int:
    """``spark-live``."""
    return _run("spark-live", "contract_tests.live.commands", "live_main")


def drift_main() -> int:
    """``spark-drift``."""
    return _run("spark-drift", "contract_tests.live.commands", "drift_main")


def _run(command: str, module: str, function: str) -> int:
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        absent = ", ".join(missing)
        sys.stderr.write(f"{command}: needs the contract suites' tools ({absent} not installed): {INSTALL}\n")
        return 2
    main = getattr(importlib.import_module(module), function)
    return int(main() or 0)
