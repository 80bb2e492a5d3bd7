"""samconfig.toml: a default, a dev and a prod environment that deploy separate stacks with the
capabilities the template needs and only parameters it declares."""

from __future__ import annotations

import shlex
import tomllib
from typing import Any

import pytest

from tests.infra.conftest import ROOT

pytestmark = pytest.mark.infra

ENVIRONMENTS = ("default", "dev", "prod")


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


def _overrides(deploy: dict[str, Any]) -> dict[str, str]:
    raw = deploy.get("parameter_overrides", "")
    items = shlex.split(raw) if isinstance(raw, str) else list(raw)
    return dict(item.split("=", 1) for item in items)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_builds_and_deploys_with_what_the_template_needs(
    samconfig: dict[str, Any], environment: str, sam_template: dict[str, Any]
) -> None:
    section = samconfig[environment]
    deploy = section["deploy"]["parameters"]
    # The nested observability application needs CAPABILITY_AUTO_EXPAND, the roles CAPABILITY_IAM
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["resolve_s3"] is True
    assert "build" in section and "validate" in section
    # Every override names a parameter of the template
    unknown = set(_overrides(deploy)) - set(sam_template["Parameters"])
    assert not unknown, f"{environment}: unknown parameters {unknown}"


def test_dev_and_prod_are_separate_stacks_with_separate_config_and_secrets(
    samconfig: dict[str, Any],
) -> None:
    dev, prod = (samconfig[e]["deploy"]["parameters"] for e in ("dev", "prod"))
    assert dev["stack_name"] != prod["stack_name"]
    dev_values, prod_values = _overrides(dev), _overrides(prod)
    # One SSM parameter and one secrets prefix per stack in the same account
    assert dev_values["ConfigParameterName"] != prod_values["ConfigParameterName"]
    assert dev_values["ChannelSecretsPrefix"] != prod_values["ChannelSecretsPrefix"]
    # Production asks before changing anything
    assert prod["confirm_changeset"] is True
