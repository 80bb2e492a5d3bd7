"""Fixtures for the template checks: the tools venv, an offline AWS environment, the translated
template and one `sam build` per session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reply_sla.local.provision import apply_conditions, load_template, translate_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
OBSERVABILITY = ROOT / "infra" / "observability.yaml"
LAYER_LOCK = ROOT / "infra" / "layer-requirements.lock"
TOOLS_BIN = ROOT / ".tools" / "bin"


def tool(name: str) -> Path:
    """A command from the project's tools venv (`make tools`), whose pins clash with .venv's."""
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools` (SAM CLI, cfn-lint and checkov)")
    return path


def offline_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the tools: a region, credentials that open nothing, no telemetry."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    env.update(extra or {})
    return env


def run(
    command: list[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=dict(env or offline_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python312() -> Path:
    """The Lambda runtime's interpreter: python3.12 on PATH if it runs, else pyenv's."""
    if sys.version_info[:2] == (3, 12):
        base = Path(sys.base_prefix) / "bin" / "python3.12"
        if base.exists():
            return base
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return Path(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv_root.glob("versions/3.12*/bin/python3.12"))
    if not candidates:
        pytest.fail("python3.12 is needed for `sam build` (set PATH, or install it with pyenv)")
    return candidates[-1]


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def translated() -> dict[str, Any]:
    """template.yaml expanded by aws-sam-translator, offline, with the default parameters."""
    return translate_template(load_template(TEMPLATE))


@pytest.fixture(scope="session")
def deployed(translated: dict[str, Any]) -> dict[str, Any]:
    """The translated template as CloudFormation deploys it with the default parameters:
    conditions applied (reply_sla.local.provision.apply_conditions)."""
    return apply_conditions(translated)


@pytest.fixture(scope="session")
def deployed_with_own_key(translated: dict[str, Any]) -> dict[str, Any]:
    """The same with TopicKey=customer-managed: the stack's own KMS key for both topics."""
    return apply_conditions(translated, {"TopicKey": "customer-managed"})


@pytest.fixture(scope="session")
def translated_file(translated: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("translated") / "template.json"
    path.write_text(json.dumps(translated, indent=1), encoding="utf-8")
    return path


class SamBuild:
    """Where `sam build` put each function and the layer, and how long it took."""

    def __init__(self, build_dir: Path, seconds: float) -> None:
        self.dir = build_dir
        self.seconds = seconds


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> SamBuild:
    """One `sam build` of template.yaml per session, into a temporary directory."""
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    python = python312()
    env = offline_env({"PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    started = time.monotonic()
    result = run(
        [
            tool("sam"),
            "build",
            "--template-file",
            TEMPLATE,
            "--base-dir",
            ROOT,
            "--build-dir",
            build_dir,
        ],
        env=env,
        # sam writes its cache next to the working directory; keep the repository clean.
        cwd=build_dir.parent,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    return SamBuild(build_dir, seconds)


@pytest.fixture(scope="session")
def lambda_runtime_libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the Lambda Python runtime provides besides the layer: boto3 and its dependencies,
    linked from this venv (not the whole venv, or a package missing from the layer would
    import anyway)."""
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"):
        module = __import__(name)
        source = Path(module.__file__ or "")
        if source.name == "__init__.py":
            source = source.parent
        (runtime / source.name).symlink_to(source)
    return runtime
