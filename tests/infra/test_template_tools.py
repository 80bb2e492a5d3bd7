"""template.yaml through the tools AWS and the community use to check templates, offline.

cfn-lint 1.x no longer expands SAM resources, so the translated template is linted as well.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import TEMPLATE, run, tool

pytestmark = pytest.mark.infra

#: checkov findings accepted for every resource of a kind; one resource's skips sit in its
#: Metadata in template.yaml.
CHECKOV_SKIPS = {
    "CKV_AWS_117": "Lambda in a VPC: the functions call public channel APIs; a VPC would only "
    "add NAT gateways and cold-start time",
    "CKV_AWS_115": "reserved concurrency takes from the account's pool (10 on new accounts); "
    "polls are capped by the SQS mapping's MaximumConcurrency instead",
    "CKV_AWS_173": "environment variables hold resource names, never secrets (those are in "
    "Secrets Manager); the default AWS-managed key encrypts them",
    "CKV_AWS_116": "a Lambda DLQ is for async invocations: the per-minute ticks are superseded "
    "a minute later, polls dead-letter through PollQueue's redrive policy, and the weekly "
    "summary has a DLQ",
    "CKV_AWS_158": "CloudWatch Logs encrypts log groups at rest already; the logs hold no secrets",
    "CKV_AWS_27": "the queues use SqsManagedSseEnabled; this check only recognises a KMS key",
}


def test_sam_validate_lint_passes() -> None:
    # Given the SAM template, When SAM CLI validates it with its built-in cfn-lint
    result = run([tool("sam"), "validate", "--lint", "--template", TEMPLATE])
    # Then nothing matches, not even a warning
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_translated_template_has_no_cfn_lint_errors(translated_file: Path) -> None:
    # Given the template expanded to plain CloudFormation, When cfn-lint reads it
    result = run([tool("cfn-lint"), "--format", "json", translated_file])
    try:
        matches: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"cfn-lint did not answer in JSON:\n{result.stdout}\n{result.stderr}")
    # Then it finds no error; warnings are shown, not fatal
    for match in matches:
        if match["Level"] != "Error":
            warnings.warn(_describe(match), stacklevel=1)
    errors = [_describe(match) for match in matches if match["Level"] == "Error"]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("which", ["sam", "translated"])
def test_checkov_passes(which: str, translated_file: Path) -> None:
    # Given the SAM template or its translation
    target = TEMPLATE if which == "sam" else translated_file
    # When checkov checks it, offline, with the accepted skips
    result = run(
        [
            tool("checkov"),
            "--file",
            target,
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
            "--skip-check",
            ",".join(CHECKOV_SKIPS),
        ]
    )
    # Then no check fails
    failed = _checkov_failures(result.stdout, result.stderr)
    assert not failed, "checkov failed:\n" + "\n".join(failed)


def _describe(match: dict[str, Any]) -> str:
    start = match.get("Location", {}).get("Start", {})
    return (
        f"{match['Rule']['Id']} line {start.get('LineNumber')}: {match['Message']}"
        f" ({match.get('Location', {}).get('Path')})"
    )


def _checkov_failures(stdout: str, stderr: str) -> list[str]:
    text = stdout.strip()
    if not text:
        pytest.fail(f"checkov printed nothing:\n{stderr}")
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not answer in JSON:\n{stdout}\n{stderr}")
    reports = report if isinstance(report, list) else [report]
    failures = []
    for one in reports:
        for check in one.get("results", {}).get("failed_checks", []):
            failures.append(f"{check['check_id']} {check['resource']}: {check['check_name']}")
    return failures
