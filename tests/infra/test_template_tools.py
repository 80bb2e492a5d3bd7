"""template.yaml and infra/observability.yaml through the tools AWS and the community use to
check templates, offline.

cfn-lint 1.x no longer expands SAM resources, so the translated template is linted as well.
checkov runs with no skip list of its own: every check a resource does not pass is skipped in
that resource's Metadata, with the reason, and the tests fail on a skip without one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from reply_sla.local.provision import load_template
from tests.infra.conftest import OBSERVABILITY, TEMPLATE, run, tool

pytestmark = pytest.mark.infra


def test_sam_validate_lint_passes() -> None:
    # Given the SAM template, When SAM CLI validates it with its built-in cfn-lint
    result = run([tool("sam"), "validate", "--lint", "--template", TEMPLATE])
    # Then nothing matches, not even a warning
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def _cfn_lint(target: Path) -> list[dict[str, Any]]:
    result = run([tool("cfn-lint"), "--format", "json", target])
    try:
        matches: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"cfn-lint did not answer in JSON:\n{result.stdout}\n{result.stderr}")
    return matches


def test_translated_template_has_no_cfn_lint_errors(translated_file: Path) -> None:
    # Given the template expanded to plain CloudFormation, When cfn-lint reads it
    matches = _cfn_lint(translated_file)
    # Then it finds no error; warnings are shown, not fatal
    for match in matches:
        if match["Level"] != "Error":
            warnings.warn(_describe(match), stacklevel=1)
    errors = [_describe(match) for match in matches if match["Level"] == "Error"]
    assert not errors, "\n".join(errors)


def test_observability_template_has_no_cfn_lint_findings() -> None:
    # Given the nested alarms and dashboard template, When cfn-lint reads it
    matches = _cfn_lint(OBSERVABILITY)
    # Then it finds nothing at all
    assert not matches, "\n".join(_describe(match) for match in matches)


@pytest.mark.parametrize("which", ["sam", "translated", "observability"])
def test_checkov_fails_nothing_and_every_skip_has_its_reason(
    which: str, translated_file: Path
) -> None:
    # Given the SAM template, its translation, or the nested observability template
    target = {"sam": TEMPLATE, "translated": translated_file, "observability": OBSERVABILITY}[which]
    # When checkov checks it, offline, with no skip list of its own
    result = run(
        [
            tool("checkov"),
            "--file",
            target,
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ]
    )
    reports = _checkov_reports(result.stdout, result.stderr)
    summary = {
        key: sum(int(one.get("summary", {}).get(key, 0)) for one in reports)
        for key in ("passed", "failed", "skipped")
    }
    print(f"checkov {which}: {summary}")
    # Then no check fails
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for one in reports
        for check in one.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed:\n" + "\n".join(failed)
    assert summary["failed"] == 0
    # And every skipped check says why, in the template
    unexplained = [
        f"{check['check_id']} {check['resource']}"
        for one in reports
        for check in one.get("results", {}).get("skipped_checks", [])
        if len(str(check.get("check_result", {}).get("suppress_comment", "")).strip()) < 20
    ]
    assert not unexplained, "skipped without a reason:\n" + "\n".join(unexplained)
    assert summary["passed"] > 0


def test_every_checkov_skip_in_the_templates_names_a_check_and_a_reason() -> None:
    # Given every resource of both templates
    for path in (TEMPLATE, OBSERVABILITY):
        for logical_id, resource in load_template(path)["Resources"].items():
            skips = (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
            # Then each skip is a check id with a sentence of reason
            for skip in skips:
                assert str(skip.get("id", "")).startswith(("CKV_", "CKV2_")), (path, logical_id)
                assert len(str(skip.get("comment", ""))) >= 40, (
                    f"{path.name}: {logical_id} skips {skip.get('id')} without a reason"
                )


def _describe(match: dict[str, Any]) -> str:
    start = match.get("Location", {}).get("Start", {})
    return (
        f"{match['Rule']['Id']} line {start.get('LineNumber')}: {match['Message']}"
        f" ({match.get('Location', {}).get('Path')})"
    )


def _checkov_reports(stdout: str, stderr: str) -> list[dict[str, Any]]:
    text = stdout.strip()
    if not text:
        pytest.fail(f"checkov printed nothing:\n{stderr}")
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not answer in JSON:\n{stdout}\n{stderr}")
    return report if isinstance(report, list) else [report]
