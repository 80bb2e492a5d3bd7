"""Write infra/layer-requirements.lock: shared/requirements.txt resolved, with hashes, for the
Lambda runtime (CPython 3.12, x86_64, manylinux2014).

`sam build` installs exactly this file into the layer (Makefile target build-ReplySlaLayer), and
pip-audit reads it (docs/operations.md). Run after changing shared/requirements.txt:

    .venv/bin/python infra/layer_lock.py

tests/infra/test_layer_lock.py fails while the lock no longer satisfies the requirements.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "shared" / "requirements.txt"
LOCK = ROOT / "infra" / "layer-requirements.lock"
#: The platform of the Lambda functions (template.yaml: python3.12, x86_64).
PLATFORM_FLAGS = [
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
]


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def resolve() -> list[tuple[str, str, str]]:
    """(name, version, sha256) of every distribution the layer needs, by pip's resolver."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        # Every argument is this script's own (no outside input reaches the command line).
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                *PLATFORM_FLAGS,
                "--target",
                str(Path(scratch) / "target"),
                "-r",
                str(REQUIREMENTS),
            ],
            check=True,
        )
        installed = json.loads(report.read_text(encoding="utf-8"))["install"]
    pinned = []
    for item in installed:
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise SystemExit(f"{item['metadata']['name']}: the index gave no sha256")
        pinned.append(
            (_normalized(item["metadata"]["name"]), item["metadata"]["version"], hashes["sha256"])
        )
    return sorted(pinned)


def render(pinned: list[tuple[str, str, str]]) -> str:
    lines = [
        "# The Lambda layer's runtime dependencies, pinned with hashes for CPython 3.12 on",
        "# x86_64 (manylinux2014). Generated from shared/requirements.txt by",
        "# `.venv/bin/python infra/layer_lock.py`; do not edit by hand.",
    ]
    for name, version, sha256 in pinned:
        lines.append(f"{name}=={version} \\")
        lines.append(f"    --hash=sha256:{sha256}")
    return "\n".join(lines) + "\n"


def main() -> int:
    LOCK.write_text(render(resolve()), encoding="utf-8")
    print(f"wrote {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
