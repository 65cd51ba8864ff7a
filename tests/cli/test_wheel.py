"""The installable package: the wheel, installed into a fresh venv outside the checkout, builds the
bundled samples, validates them and plans a publish, from a folder of its own with no PYTHONPATH.

Installing the dependencies into a new venv takes about a minute, so these are `slow`; the
installed venv is shared (session fixture `installed_ogd`) with the newcomer test (test_newcomer.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, InstalledOgd, Portal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def samples_project(installed_ogd: InstalledOgd, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, subprocess.CompletedProcess[str]]:
    """The bundled samples and their datasets.toml copied to a folder outside the checkout (the
    dataset names made unique to this run, so the portal has never seen them), built with the
    installed `ogd build --all`."""
    project = tmp_path_factory.mktemp("wheel-project")
    shutil.copytree(REPO / "samples", project / "samples")
    run = uuid.uuid4().hex[:6]
    config = (REPO / "datasets.toml").read_text(encoding="utf-8")
    config = config.replace("[datasets.prd-releases-sample", f"[datasets.wheel-prd-{run}")
    config = config.replace("[datasets.thaigov-news-sample", f"[datasets.wheel-thaigov-{run}")
    (project / "datasets.toml").write_text(config, encoding="utf-8")
    built = installed_ogd.run("build", "--all", "--json", cwd=project)
    return project, run, built


def test_the_wheel_holds_the_library_and_its_schemas_and_nothing_else(installed_ogd: InstalledOgd) -> None:
    with zipfile.ZipFile(installed_ogd.wheel) as wheel:
        names = {name for name in wheel.namelist() if ".dist-info/" not in name}
        entry_points = next(wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    source = installed_ogd.wheel.parent.parent / "source"  # the clean copy the wheel was built from
    expected = {path.relative_to(source).as_posix() for path in (source / "pipeline").rglob("*.py")}
    assert "pipeline/cli/main.py" in expected and "pipeline/build/run.py" in expected
    assert names == expected | {"pipeline/schemas/releases.schema.json", "pipeline/schemas/thai_gdc_dataset.json",
                                "pipeline/schemas/changes.schema.json", "pipeline/sources/agencies.json",
                                "pipeline/sources/profiles.json"}
    assert "ogd = pipeline.cli.main:main" in entry_points


def test_the_installed_command_runs_the_installed_library_not_the_checkout(installed_ogd: InstalledOgd, tmp_path: Path) -> None:
    where = subprocess.run([str(installed_ogd.venv / "bin" / "python"), "-c",
                            "import pipeline, pipeline.record as r; print(pipeline.__file__); print(r.__file__)"],
                           cwd=tmp_path, env=installed_ogd.env(), capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(installed_ogd.venv / "lib"), line
    # The script's interpreter is the venv's (the checkout's .venv never runs here).
    assert installed_ogd.ogd.read_text().splitlines()[0] == f"#!{installed_ogd.venv / 'bin' / 'python'}"
    version = installed_ogd.run("--version", cwd=tmp_path)
    assert version.returncode == 0 and "0.1.0" in version.stdout


def test_installed_build_of_the_samples(samples_project) -> None:
    project, run, built = samples_project
    assert built.returncode == 0, built.stderr[-3000:]
    summary = {entry["name"]: entry for entry in json.loads(built.stdout)}
    # As samples/README.md describes them: 2 prd releases; 41 thaigov items, one an empty placeholder.
    assert summary[f"wheel-prd-{run}"]["counts"] == {"inputs": 2, "items": 2, "records": 2, "quarantined": 0,
                                                     "duplicates": 0, "reused": 0, "skipped": 0}
    assert summary[f"wheel-thaigov-{run}"]["counts"] == {"inputs": 41, "items": 41, "records": 40, "quarantined": 1,
                                                         "duplicates": 0, "reused": 0, "skipped": 0}
    assert summary[f"wheel-thaigov-{run}"]["per_reason"] == {"empty-release": 1}
    for name in summary:
        package = project / "datapackages" / name  # beside datasets.toml, not in the checkout
        assert summary[name]["output"] == str(package)
        descriptor = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))
        assert descriptor["name"] == name
        # The Table Schema is package data of the wheel: the descriptor carries it.
        assert descriptor["resources"][0]["schema"]["primaryKey"] == ["release_id"]


def test_installed_build_gives_the_checkouts_bytes(samples_project, tmp_path: Path) -> None:
    """The installed library and the checkout's write the same data files from the same inputs."""
    from pipeline.build.run import build_dataset
    from pipeline.config import load_config

    project, run, built = samples_project
    assert built.returncode == 0, built.stderr[-3000:]
    for name in (f"wheel-prd-{run}", f"wheel-thaigov-{run}"):
        dataset = load_config(project / "datasets.toml")[name]
        assert build_dataset(dataset, tmp_path / name, workers=1).ok
        for data in ("data/releases.csv", "data/releases.parquet", "data/releases-excel.csv", "quarantine.jsonl"):
            installed, checkout = project / "datapackages" / name / data, tmp_path / name / data
            assert installed.exists() == checkout.exists(), data
            if installed.exists():
                assert installed.read_bytes() == checkout.read_bytes(), f"{name}/{data}"


def test_installed_validate(installed_ogd: InstalledOgd, samples_project) -> None:
    project, run, built = samples_project
    assert built.returncode == 0, built.stderr[-3000:]
    result = installed_ogd.run("validate", f"datapackages/wheel-prd-{run}", f"datapackages/wheel-thaigov-{run}",
                               cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [  # human messages go to stderr (stdout is for --json)
        f"datapackages/wheel-prd-{run}: valid: 2 rows (2 in releases, 2 in releases-parquet, 2 in changes) checked by "
        "ogd-fast",
        f"datapackages/wheel-thaigov-{run}: valid: 40 rows (40 in releases, 40 in releases-parquet, 40 in changes) "
        "checked by ogd-fast",
    ]


@pytest.mark.portal
def test_installed_publish_dry_run_plans_a_create_and_writes_nothing(installed_ogd: InstalledOgd, samples_project,
                                                                   portal: Portal) -> None:
    import urllib.request

    project, run, built = samples_project
    assert built.returncode == 0, built.stderr[-3000:]
    result = installed_ogd.run("publish", "--all", "--dry-run", "--json", cwd=project,
                               CKAN_URL=portal.url, CKAN_API_TOKEN=portal.admin_token)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert portal.admin_token not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["dry_run"] is True
    plans = {entry["dataset"]: entry for entry in summary["datasets"]}
    assert set(plans) == {f"wheel-prd-{run}", f"wheel-thaigov-{run}"}
    for name, plan in plans.items():
        assert plan["dataset_action"] == "create"  # never published: these names are this run's
        assert plan["url"] == f"{portal.url}/dataset/{name}"
        assert {r["name"]: r["action"] for r in plan["resources"]} == {
            "releases.csv": "create", "releases.parquet": "create", "releases-excel.csv": "create",
            "changes.csv": "create", "datapackage.json": "create"}
        assert plan["uploads"] == 0
        # Nothing was written: the portal does not know the dataset.
        request = urllib.request.Request(f"{portal.url}/api/action/package_show?id={name}",
                                         headers={"Authorization": portal.admin_token})
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=30)
        assert missing.value.code == 404
