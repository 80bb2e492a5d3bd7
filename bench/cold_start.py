"""Cold start: each handler's import time over `import boto3`'s, and each built package's size.

Imports are timed in fresh python3.12 interpreters (the Lambda runtime's version), each handler
module with only its function folder, the layer and the runtime's boto3 on its path, exactly as
test_build.py imports them; `import boto3` alone is timed the same way, interleaved. Median of
10 of each (the ratio is the median of each handler run over the boto3 run right after it),
with nothing written (Lambda's code and layer folders are read-only, so a module
without its .pyc is compiled again at every cold start).

The build is `--build-dir`, else `.aws-sam/build` when it exists, else a `sam build` into a
temporary folder with the SAM CLI of `make tools`; without either, the handlers are imported
from the source tree with shared/ on the path, and no package size is given. The build is timed
as it ships, and for comparison the other way: without its .pyc files if it ships them,
compiled ahead (`compileall --invalidation-mode unchecked-hash`) if it does not.

Target: at most 2.0 times boto3's import time, every handler, as the build ships it; the
comparison is reported without a target.
Not part of `make test`. Run: `.venv/bin/python bench/cold_start.py`.
`--json FILE` also writes the figures for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".tools" / "bin" / "sam"
RUNS = 10
TARGET = 2.0
LAYER = "ReplySlaLayer"
# What the Lambda Python runtime provides besides the layer.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
# Lambda's limit on a function's code and layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024
TIMED_IMPORT = (
    "import importlib, sys, time\n"
    "started = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(time.perf_counter() - started)\n"
)
# Placeholder values of the functions' environment (nothing is read at import time, but a
# handler that did would show it here).
ENVIRONMENT = {
    "TABLE_NAME": "replysla-table",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:replysla-escalations",
    "POLL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/replysla-poll",
    "BUCKET_NAME": "replysla-summaries",
    "CONFIG_PARAMETER": "/replysla/config",
    "DUE_SHARDS": "4",
    "RETENTION_DAYS": "400",
    "POWERTOOLS_SERVICE_NAME": "replysla",
    "POWERTOOLS_METRICS_NAMESPACE": "ReplySla",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class _Loader(yaml.SafeLoader):
    """Reads template.yaml, CloudFormation's short tags included (as plain values)."""


_Loader.add_multi_constructor("!", lambda loader, _tag, node: None)


def functions() -> dict[str, dict[str, str]]:
    """Each function's logical id -> its CodeUri and Handler, from template.yaml."""
    resources = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Loader)["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def python312() -> str:
    """The Lambda runtime's interpreter: this one if it is 3.12, else python3.12 or pyenv's."""
    if sys.version_info[:2] == (3, 12):
        base = Path(sys.base_prefix) / "bin" / "python3.12"
        if base.exists():
            return str(base)
    found = shutil.which("python3.12")
    if found:
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv.glob("versions/3.12*/bin/python3.12"))
    if not candidates:
        raise SystemExit("cold_start: python3.12 is needed (the Lambda runtime's version)")
    return str(candidates[-1])


def runtime_libs(into: Path) -> Path:
    """boto3 and its dependencies, linked from this venv (what the Lambda runtime provides)."""
    into.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        module = __import__(name)
        source = Path(module.__file__ or "")
        if source.name == "__init__.py":
            source = source.parent
        (into / source.name).symlink_to(source)
    return into


@contextmanager
def build_output(scratch: Path, given: Path | None) -> Iterator[Path | None]:
    """The given build, else `.aws-sam/build`, else a fresh `sam build` in `scratch`, else None."""
    existing = given or ROOT / ".aws-sam" / "build"
    if existing.is_dir():
        yield existing
        return
    if given is not None:
        raise SystemExit(f"cold_start: {given} is not a sam build output folder")
    if not SAM.exists():
        yield None
        return
    build_dir = scratch / "sam" / "build"
    build_dir.parent.mkdir(parents=True)
    python = python312()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
    }
    result = subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--base-dir",
            str(ROOT),
            "--build-dir",
            str(build_dir),
        ],
        cwd=build_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"cold_start: sam build failed:\n{result.stdout}\n{result.stderr}")
    yield build_dir


def ships_bytecode(build: Path) -> bool:
    return any(build.glob(f"{LAYER}/python/reply_sla/**/*.pyc"))


def copy_of(build: Path, into: Path, bytecode: str) -> Path:
    """A copy of the build: `keep` its files as they are, `strip` its .pyc, or `compile` ahead."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc") if bytecode != "keep" else None
    shutil.copytree(build, into, ignore=ignore, symlinks=True)
    if bytecode == "compile":
        subprocess.run(
            [
                python312(),
                "-m",
                "compileall",
                "-q",
                "--invalidation-mode",
                "unchecked-hash",
                str(into),
            ],
            check=True,
            capture_output=True,
        )
    return into


def timed_import(python: str, module: str, path: list[Path], cwd: Path) -> float:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(p) for p in path),
        "PYTHONNOUSERSITE": "1",
        # Nothing is written: the shipped copy stays without .pyc, like Lambda's read-only code.
        "PYTHONDONTWRITEBYTECODE": "1",
        **ENVIRONMENT,
    }
    result = subprocess.run(
        [python, "-c", TIMED_IMPORT, module],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"cold_start: importing {module} from {cwd} failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


@dataclass
class ImportFigure:
    function: str
    way: str
    handler_seconds: float
    boto3_seconds: float
    # The median of each run's handler time over the boto3 time measured right after it: a
    # busy machine slows both of a pair alike.
    ratio: float


def measure_imports(
    way: str,
    code_dirs: dict[str, Path],
    layer: list[Path],
    runtime: list[Path],
    runs: int,
    python: str,
) -> list[ImportFigure]:
    """Median handler and boto3 import times, interleaved run by run."""
    figures = []
    for function, code in code_dirs.items():
        handler_times, boto3_times = [], []
        for _ in range(runs):
            handler_times.append(timed_import(python, "handler", [code, *layer, *runtime], code))
            boto3_times.append(timed_import(python, "boto3", runtime, code))
        figures.append(
            ImportFigure(
                function,
                way,
                statistics.median(handler_times),
                statistics.median(boto3_times),
                statistics.median(h / b for h, b in zip(handler_times, boto3_times, strict=True)),
            )
        )
    return figures


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes unzipped, bytes zipped with deflate) of a folder, as Lambda receives it."""
    unzipped = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            unzipped += file.stat().st_size
            archive.write(file, file.relative_to(path).as_posix())
    return unzipped, len(buffer.getvalue())


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--build-dir", type=Path, help="a `sam build` output folder to time")
    args = parser.parse_args(argv)
    declared = functions()
    figures: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="replysla-cold-") as tmp:
        scratch = Path(tmp)
        runtime = runtime_libs(scratch / "runtime")
        with build_output(scratch, args.build_dir) as build:
            if build is None:
                print("cold start (no sam build available: imported from the source tree)")
                code_dirs = {
                    name: ROOT / str(props["CodeUri"]).rstrip("/")
                    for name, props in declared.items()
                }
                # This venv's interpreter: it has the layer's dependencies and boto3.
                results = measure_imports(
                    "source tree", code_dirs, [ROOT / "shared"], [], args.runs, sys.executable
                )
            else:
                print(f"cold start ({build}, python3.12, median of {args.runs} fresh interpreters)")
                stale = [name for name in [*declared, LAYER] if not (build / name).is_dir()]
                if stale:
                    raise SystemExit(
                        f"cold_start: {build} has no {', '.join(stale)}: it is older than "
                        "template.yaml; run `sam build` again"
                    )
                shipped = ships_bytecode(build)
                ways = [
                    ("as shipped" + (", with .pyc" if shipped else ", no .pyc"), "keep"),
                    (
                        ("without its .pyc", "strip")
                        if shipped
                        else ("if compiled ahead", "compile")
                    ),
                ]
                results = []
                for index, (way, bytecode) in enumerate(ways):
                    copy = copy_of(build, scratch / f"copy-{index}", bytecode)
                    code_dirs = {name: copy / name for name in declared}
                    layer = [copy / LAYER / "python"]
                    results += measure_imports(
                        way, code_dirs, layer, [runtime], args.runs, python312()
                    )
                layer_size = folder_size(build / LAYER)
                for name in declared:
                    code_size = folder_size(build / name)
                    total = code_size[0] + layer_size[0]
                    print(
                        f"  {name}: package {_mb(code_size[0])} ({_mb(code_size[1])} zipped) + "
                        f"layer {_mb(layer_size[0])} ({_mb(layer_size[1])} zipped) = "
                        f"{_mb(total)} unzipped (Lambda's limit {_mb(UNZIPPED_LIMIT)})"
                    )
                    figures.append(
                        {
                            "name": f"{name} built size (code + layer, unzipped)",
                            "value": _mb(total),
                            "unit": f"({_mb(code_size[1] + layer_size[1])} zipped)",
                            "target": "< 250 MB (Lambda's limit)",
                            "ok": total < UNZIPPED_LIMIT,
                        }
                    )
    for result in results:
        compared = result.way in ("without its .pyc", "if compiled ahead")
        ok = result.ratio <= TARGET
        verdict = (
            "for comparison"
            if compared
            else f"(target <= {TARGET}): " + ("met" if ok else "MISSED")
        )
        print(
            f"  {result.function} ({result.way}): handler {result.handler_seconds * 1000:.0f} ms"
            f" / boto3 {result.boto3_seconds * 1000:.0f} ms = {result.ratio:.2f} {verdict}"
        )
        figures.append(
            {
                "name": f"{result.function} import / boto3 import ({result.way})",
                "value": round(result.ratio, 2),
                "unit": f"({result.handler_seconds * 1000:.0f} / "
                f"{result.boto3_seconds * 1000:.0f} ms)",
                "target": "reported" if compared else f"<= {TARGET}",
                "ok": True if compared else ok,
            }
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0 if all(f["ok"] for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
