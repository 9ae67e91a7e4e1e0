"""The hooks that `schemathesis.toml` loads run with Schemathesis alone: nothing of this project, nothing
Schemathesis does not install itself (issue 15: `pipx`/`uvx` users have no orjson or Pillow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sparkspec.image_rules import ImageRules, check_image
from sparkspec.openapi import ApiSpec
from tests.helpers import REPO

HOOKS = REPO / "contract_tests" / "schemathesis_hooks.py"
# What a venv with only Schemathesis lacks: this project's packages and its other dependencies.
NOT_WITH_SCHEMATHESIS = [
    "contract_tests",
    "sparkspec",
    "mockserver",
    "benchmarks",
    "orjson",
    "PIL",
    "pybase64",
    "httpx",
    "starlette",
    "uvicorn",
    "openapi_core",
]
RUN = """
import json, runpy, sys
blocked = set(sys.argv[2].split(","))

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (Schemathesis alone)")
        return None

sys.meta_path.insert(0, NotInstalled())
runpy.run_path(sys.argv[1], run_name="hooks")
from hypothesis import find
from schemathesis.specs.openapi.formats import STRING_FORMATS
strategy = STRING_FORMATS["image-url-or-base64"]
print(json.dumps([find(strategy, lambda v: v.startswith(p)) for p in ("data:", "https://")]))
"""


def _run_alone(hooks: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", RUN, str(hooks), ",".join(NOT_WITH_SCHEMATHESIS)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_the_hooks_run_with_schemathesis_alone_and_make_images_the_mock_takes() -> None:
    done = _run_alone(HOOKS)
    assert done.returncode == 0, done.stderr[-2000:]
    (schema,) = ApiSpec.load().schemas_with_extension("x-image-rules").values()
    rules = ImageRules.from_spec(schema["x-image-rules"])
    for image in json.loads(done.stdout):
        check_image(image, rules)  # raises if the mock would refuse it


def test_hooks_that_import_the_project_would_be_caught(tmp_path: Path) -> None:
    """The check can fail: the hooks as they were (through the project's own modules) do not run alone."""
    old = tmp_path / "hooks.py"
    old.write_text("from contract_tests.schemathesis_bridge import register_formats\n")
    done = _run_alone(old)
    assert done.returncode != 0 and "Schemathesis alone" in done.stderr
