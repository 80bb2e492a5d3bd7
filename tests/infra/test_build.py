"""`sam build` output imports: each function's handler, with only the layer and what the Lambda
runtime provides on its path.

`sam build` succeeds with a wrong CodeUri or Handler; only importing the built code shows that
the function folders, the handler names and the layer's contents fit together.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reply_sla.local.provision import load_template
from tests.infra.conftest import TEMPLATE, SamBuild, offline_env, python312, run

pytestmark = pytest.mark.infra

FUNCTIONS = {
    logical_id: resource["Properties"]
    for logical_id, resource in load_template(TEMPLATE)["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}
LAYER = "ReplySlaLayer"

IMPORT_HANDLER = """
import importlib, sys, time
module_name, function_name = sys.argv[1].rsplit(".", 1)
started = time.perf_counter()
module = importlib.import_module(module_name)
elapsed = time.perf_counter() - started
function = getattr(module, function_name, None)
assert callable(function), f"{sys.argv[1]} is not a callable"
assert module.__file__.startswith(sys.argv[2]), f"{module_name} came from {module.__file__}"
print(f"{elapsed:.3f}")
"""


def test_sam_build_builds_every_function_and_the_layer(sam_build: SamBuild) -> None:
    # Given the template, When `sam build` ran (once per session, timed)
    print(f"sam build took {sam_build.seconds:.1f} s")
    # Then each function and the layer have a build folder, and the layer carries the package
    for name in [*FUNCTIONS, LAYER]:
        assert (sam_build.dir / name).is_dir(), f"no build output for {name}"
    assert (sam_build.dir / LAYER / "python" / "reply_sla" / "__init__.py").is_file()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_built_handler_imports_with_layer_and_runtime_only(
    logical_id: str, sam_build: SamBuild, lambda_runtime_libs: Path
) -> None:
    # Given the built function, the built layer and the runtime's own boto3, nothing else
    properties = FUNCTIONS[logical_id]
    code_dir = sam_build.dir / logical_id
    layer_dir = sam_build.dir / LAYER / "python"
    path = os.pathsep.join(str(p) for p in (code_dir, layer_dir, lambda_runtime_libs))
    env = offline_env(
        {
            "PYTHONPATH": path,
            "PYTHONNOUSERSITE": "1",
            # No .pyc is written: the build output ships without them, like this import.
            "PYTHONDONTWRITEBYTECODE": "1",
            **_function_environment(),
        }
    )
    # When python3.12 imports its Handler
    result = run(
        [python312(), "-c", IMPORT_HANDLER, properties["Handler"], str(code_dir)],
        env=env,
        cwd=code_dir,
        timeout=120,
    )
    # Then the handler is a callable from the function's own folder (CodeUri is right)
    assert result.returncode == 0, (
        f"{logical_id}: {properties['Handler']} from {properties['CodeUri']} does not import:\n"
        f"{result.stdout}\n{result.stderr}"
    )
    print(f"{logical_id}: cold import {result.stdout.strip()} s without .pyc")


def _function_environment() -> dict[str, str]:
    """The Globals environment with placeholder values, as the deployed functions see it."""
    variables = load_template(TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    placeholders = {
        "TABLE_NAME": "replysla-table",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:replysla-escalations",
        "POLL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/replysla-poll",
        "BUCKET_NAME": "replysla-summaries",
        "CONFIG_PARAMETER": "/replysla/config",
        "DUE_SHARDS": "4",
        "RETENTION_DAYS": "400",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_LEVEL": "INFO",
    }
    return {
        name: value if isinstance(value, str) else placeholders.get(name, "placeholder")
        for name, value in variables.items()
    }
