"""Where the spec and the result video live, in a source checkout and in an installed wheel; and the
toolkit's version."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_bundled"
_CHECKOUT = _PACKAGE.parent


def _locate(bundled_name: str, checkout_path: str) -> Path:
    # A wheel carries copies under _bundled/ (see pyproject.toml); a checkout or an editable
    # install reads the files at the top of the repository, so there is one file to edit.
    for candidate in (_BUNDLED / bundled_name, _CHECKOUT / checkout_path):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{checkout_path} is missing: neither the wheel nor the checkout has it")


def spec_path() -> Path:
    """The path of ``spec/openapi.yaml``, the contract."""
    return _locate("openapi.yaml", "spec/openapi.yaml")


def video_path() -> Path:
    """The path of the MP4 that the mock serves as every succeeded task's result."""
    return _locate("result_00.mp4", "fixtures/video/result_00.mp4")


def toolkit_version() -> str:
    """The installed toolkit's version (``pyproject.toml``'s), for the commands' ``--version``."""
    try:
        return version("wan-spark-toolkit")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def command_parser(prog: str, description: str, exit_codes: str) -> argparse.ArgumentParser:
    """The parser every command of the toolkit starts from: its ``--help`` lists ``exit_codes`` (one
    ``code  meaning`` line each) and ``--version`` prints the installed toolkit's version."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="exit codes:\n" + "".join(f"  {line}\n" for line in exit_codes.strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {toolkit_version()}")
    return parser
