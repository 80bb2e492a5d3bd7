"""`sam build` output: each function's handler imports with only the layer and what the Lambda
runtime provides on its path, the layer is exactly the lock, and it ships usable bytecode.

`sam build` succeeds with a wrong CodeUri or Handler; only importing the built code shows that
the function folders, the handler names and the layer's contents fit together.
"""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

import pytest

from reply_sla.local.provision import load_template
from tests.infra.conftest import TEMPLATE, SamBuild, offline_env, python312, run
from tests.infra.test_layer_lock import read_lock

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
    # And the nested observability template is built beside them
    assert (sam_build.dir / "Observability" / "template.yaml").is_file()


def test_layer_holds_exactly_the_locked_distributions(sam_build: SamBuild) -> None:
    # Given the built layer's installed distributions
    site = sam_build.dir / LAYER / "python"
    installed = {}
    for metadata in site.glob("*.dist-info/METADATA"):
        fields = dict(
            line.split(": ", 1)
            for line in metadata.read_text(encoding="utf-8").splitlines()
            if line.startswith(("Name: ", "Version: "))
        )
        installed[fields["Name"].lower().replace("_", "-").replace(".", "-")] = fields["Version"]
    # Then they are the lock's, name for name and version for version
    locked = {name: version for name, (version, _) in read_lock().items()}
    assert installed == locked


def test_layer_ships_unchecked_hash_bytecode_for_every_module(sam_build: SamBuild) -> None:
    # Given every Python source in the built layer
    site = sam_build.dir / LAYER / "python"
    sources = [p for p in site.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 100
    missing, checked = [], []
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
        if not cached.is_file():
            missing.append(str(source.relative_to(site)))
            continue
        # PEP 552 flags: bit 0 hash-based, bit 1 check the source. 0b01 never reads the source,
        # so Lambda's read-only /opt uses the file as it is.
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        if flags != 0b01:
            checked.append(f"{source.relative_to(site)}: flags {flags:#04b}")
    # Then each has its CPython 3.12 .pyc, hash-based and unchecked
    assert not missing, f"{len(missing)} modules without .pyc, e.g. {missing[:5]}"
    assert not checked, checked[:5]


@pytest.fixture(scope="session")
def layer_without_bytecode(sam_build: SamBuild, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built layer without its __pycache__ folders: what plain `sam build` would ship."""
    target = tmp_path_factory.mktemp("layer-no-pyc") / "python"
    shutil.copytree(
        sam_build.dir / LAYER / "python", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def _import_seconds(
    logical_id: str, sam_build: SamBuild, layer_dir: Path, runtime_libs: Path
) -> float:
    properties = FUNCTIONS[logical_id]
    code_dir = sam_build.dir / logical_id
    path = os.pathsep.join(str(p) for p in (code_dir, layer_dir, runtime_libs))
    env = offline_env(
        {
            "PYTHONPATH": path,
            "PYTHONNOUSERSITE": "1",
            # Nothing is written: Lambda's file system is read-only.
            "PYTHONDONTWRITEBYTECODE": "1",
            **_function_environment(),
        }
    )
    result = run(
        [python312(), "-c", IMPORT_HANDLER, properties["Handler"], str(code_dir)],
        env=env,
        cwd=code_dir,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{logical_id}: {properties['Handler']} from {properties['CodeUri']} does not import:\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_built_handler_imports_with_layer_and_runtime_only(
    logical_id: str,
    sam_build: SamBuild,
    layer_without_bytecode: Path,
    lambda_runtime_libs: Path,
) -> None:
    # Given the built function, the built layer and the runtime's own boto3, nothing else
    layer = sam_build.dir / LAYER / "python"
    # When python3.12 imports its Handler, with the layer's .pyc and without them (3 times each)
    shipped = [_import_seconds(logical_id, sam_build, layer, lambda_runtime_libs) for _ in "abc"]
    plain = [
        _import_seconds(logical_id, sam_build, layer_without_bytecode, lambda_runtime_libs)
        for _ in "abc"
    ]
    # Then the handler is a callable from the function's own folder both ways
    print(
        f"{logical_id}: cold import median {statistics.median(shipped):.3f} s with the "
        f"layer's .pyc, {statistics.median(plain):.3f} s without"
    )


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
        "POWERTOOLS_SERVICE_NAME": "replysla",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_LEVEL": "INFO",
    }
    return {
        name: value if isinstance(value, str) else placeholders.get(name, "placeholder")
        for name, value in variables.items()
    }
