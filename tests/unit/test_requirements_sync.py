"""The Lambda layer installs what the package declares: shared/requirements.txt mirrors
pyproject.toml's [project.dependencies], except boto3."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Provided by the Lambda Python runtime, so the layer does not carry it.
RUNTIME_PROVIDED = {"boto3"}


def _normalized(requirement: str) -> str:
    """One spelling per requirement: canonical name, sorted specifiers, markers kept."""
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:  # pragma: no cover - packaging comes with pip's environments
        return re.sub(r"\s+", "", requirement).lower().replace("_", "-")
    parsed = Requirement(requirement)
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    specifiers = ",".join(sorted(str(s) for s in parsed.specifier))
    marker = f"; {parsed.marker}" if parsed.marker else ""
    return f"{canonicalize_name(parsed.name)}{extras}{specifiers}{marker}"


def _name(normalized: str) -> str:
    return re.split(r"[\[<>=!~;]", normalized, maxsplit=1)[0]


def test_layer_requirements_match_project_dependencies() -> None:
    # Given the package's dependencies and the layer's requirements file
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {_normalized(r) for r in project["project"]["dependencies"]}
    lines = (ROOT / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    layer = {
        _normalized(line.split("#", 1)[0].strip())
        for line in lines
        if line.split("#", 1)[0].strip()
    }
    # When boto3 is left out of the package's list
    expected = {r for r in declared if _name(r) not in RUNTIME_PROVIDED}
    # Then both name the same requirements with the same version ranges
    assert layer == expected, (
        "shared/requirements.txt must equal pyproject.toml [project.dependencies] minus boto3 "
        "(the Lambda runtime provides boto3, so the layer does not ship it); "
        f"only in requirements.txt: {sorted(layer - expected)}, "
        f"only in pyproject.toml: {sorted(expected - layer)}"
    )
    assert not {_name(r) for r in layer} & RUNTIME_PROVIDED, "the layer must not ship boto3"
