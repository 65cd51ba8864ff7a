"""Publishing to the real portal: incremental, idempotent, fail-safe, verifiable by pull."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import ckanapi
import pytest

from conftest import REPO, Portal
from faultproxy import FaultProxy
from helpers import copy_thaigov

from pipeline.build.run import build_dataset
from pipeline.ckan.client import PortalClient
from pipeline.config import load_config
from pipeline.problems import AuthError, PortalRejected
from pipeline.ckan.metadata import romanised_slug
from pipeline.ckan.publish import publish_package

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]


def make_package(base: Path, name: str, org: str, *, count: int = 5, **changes: object) -> tuple[Path, Path]:
    """Build a small real package (thaigov items) named NAME; returns (inputs, package folder)."""
    inputs = base / f"{name}-inputs"
    if not inputs.exists():
        copy_thaigov(inputs, count, step=131)
    template = load_config()["thaigov-news-sample"]
    dataset = dataclasses.replace(template, name=name, inputs=(inputs,), organization=org, **changes)
    out = base / name
    result = build_dataset(dataset, out, workers=1)
    assert result.ok, result.failure
    return inputs, out


def has_spreadsheet(package: Path) -> bool:
    """Whether the build wrote the spreadsheet CSV (packages built before it have none; publish skips it then)."""
    return (package / "data" / "releases-excel.csv").exists()


def published_keys(package: Path) -> list[str]:
    """The ogd_keys of the resources a publish of PACKAGE leaves on the portal, sorted."""
    return sorted(["datapackage", "releases-csv", "releases-parquet"] + (["releases-excel"] if has_spreadsheet(package) else [])
                  + (["changes"] if has_change_log(package) else []))


def has_change_log(package: Path) -> bool:
    """Whether the build wrote the change log (data/changes.csv; packages built before versions have none)."""
    return (package / "data" / "changes.csv").exists()


def rebuild(base: Path, name: str, org: str, **changes: object) -> Path:
    return make_package(base, name, org, **changes)[1]


def client_for(portal: Portal, token: str | None = None) -> PortalClient:
    return PortalClient(portal.url, token or portal.admin_token, attempts=2, backoff=0.05)


def datastore_rows(admin: ckanapi.RemoteCKAN, dataset: dict) -> dict[str, str]:
    csv = next(r for r in dataset["resources"] if r.get("ogd_key") == "releases-csv")
    records = admin.action.datastore_search(resource_id=csv["id"], fields=["release_id", "content_sha256"], limit=10000)
    return {r["release_id"]: r["content_sha256"] for r in records["records"]}


def local_rows(package: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    table = pq.read_table(package / "data" / "releases.parquet", columns=["release_id", "content_sha256"])
    return dict(zip(table.column("release_id").to_pylist(), table.column("content_sha256").to_pylist()))


@pytest.fixture(scope="module")
def admin(portal: Portal) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("publish")


def test_first_publish_creates_then_unchanged_publish_writes_nothing(portal: Portal, admin, workdir: Path) -> None:
    name = f"pub-first-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    first = publish_package(package, client_for(portal))
    assert first.dataset_action == "create"
    assert [r.action for r in first.resources] == ["create"] * len(published_keys(package))
    assert first.datastore_action == "create" and first.rows_upserted == len(local_rows(package))
    dataset = admin.action.package_show(id=name)
    # named after the dataset on the portal (every package's own file is releases.csv)
    assert sorted(r["name"] for r in dataset["resources"]) == sorted(
        ["datapackage.json", f"{name}.csv", f"{name}.parquet"] + ([f"{name}-excel.csv"] if has_spreadsheet(package) else [])
        + (["changes.csv"] if has_change_log(package) else []))
    assert datastore_rows(admin, dataset) == local_rows(package)
    csv = next(r for r in dataset["resources"] if r["name"] == f"{name}.csv")
    assert csv["format"] == "CSV" and csv["hash"].startswith("sha256:") and int(csv["size"]) == (package / "data" / "releases.csv").stat().st_size
    assert json.loads(csv["schema"])["primaryKey"] == ["release_id"]
    fields = {f["id"]: f for f in admin.action.datastore_search(resource_id=csv["id"], limit=0)["fields"]}
    assert fields["published_date"]["type"] == "date" and fields["read_count"]["type"] == "int8"  # bigint, as Arrow int64
    assert fields["title"]["info"]["label"] == "หัวข้อข่าว (Title)"

    second_client = client_for(portal)
    second = publish_package(package, second_client)
    assert not second.changed
    assert second_client.uploads == 0
    assert second_client.http_requests <= 3 and second.api_calls <= 3
    assert not {"datastore_upsert", "datastore_create", "datastore_delete", "resource_patch", "package_patch"} & set(second_client.actions)


def test_one_changed_and_one_removed_release(portal: Portal, admin, workdir: Path) -> None:
    name = f"pub-change-{RUN}"
    inputs, package = make_package(workdir, name, portal.org)
    publish_package(package, client_for(portal))
    before = admin.action.package_show(id=name)
    victim = sorted(inputs.rglob("*.txt"))[0]
    text = victim.read_text(encoding="utf-8")
    lines = text.split("\n")
    body_line = max(range(len(lines)), key=lambda i: len(lines[i]))
    lines[body_line] = lines[body_line] + " (แก้ไขข้อมูล)"
    victim.write_text("\n".join(lines), encoding="utf-8")
    package = rebuild(workdir, name, portal.org)
    client = client_for(portal)
    changed = publish_package(package, client)
    assert changed.rows_upserted == 1 and changed.rows_deleted == 0
    assert client.actions["datastore_upsert"] == 1
    assert {r.name: r.action for r in changed.resources} == {
        "releases.csv": "update", "releases.parquet": "update", "datapackage.json": "update",
        **({"releases-excel.csv": "update"} if has_spreadsheet(package) else {}),
        **({"changes.csv": "update"} if has_change_log(package) else {})}
    assert client.uploads == len(published_keys(package))  # every file changed
    after = admin.action.package_show(id=name)
    assert sorted(r["id"] for r in after["resources"]) == sorted(r["id"] for r in before["resources"])
    assert datastore_rows(admin, after) == local_rows(package)

    removed = sorted(inputs.rglob("*.txt"))[-1]
    removed.unlink()
    package = rebuild(workdir, name, portal.org)
    client = client_for(portal)
    result = publish_package(package, client)
    assert result.rows_deleted == 1 and result.rows_upserted == 0
    rows = datastore_rows(admin, admin.action.package_show(id=name))
    assert rows == local_rows(package) and len(rows) == 4


def test_gdc_fields_are_dataset_fields_and_invalid_choice_is_refused_before_any_write(portal: Portal, admin, workdir: Path) -> None:
    name = f"pub-gdc-{RUN}"
    template = load_config()["thaigov-news-sample"]
    _, package = make_package(workdir, name, portal.org)
    publish_package(package, client_for(portal))
    shown = admin.action.package_show(id=name)
    assert shown["data_type"] == "ข้อมูลระเบียน" and shown["geo_coverage"] == "ประเทศ"
    assert "อื่นๆ" in shown["data_format"] and shown["data_format_other"] == "Parquet"
    assert shown["license_id"] == "Creative Commons Attributions"
    assert shown["last_updated_date"]
    bad_name = f"pub-badgdc-{RUN}"
    _, bad = make_package(workdir, bad_name, portal.org, gdc={**template.gdc, "geo_coverage": "ดาวอังคาร"})
    client = client_for(portal)
    with pytest.raises(PortalRejected) as refused:
        publish_package(bad, client)
    assert "geo_coverage" in refused.value.field_errors
    assert not {"package_create", "package_patch", "resource_create"} & set(client.actions)
    with pytest.raises(ckanapi.NotFound):
        admin.action.package_show(id=bad_name)
    cli = subprocess.run([sys.executable, "-m", "pipeline.cli", "publish", str(bad)], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token})
    assert cli.returncode == 6 and "geo_coverage" in cli.stderr


# A first publish takes 11 requests; fail from each one of them on in turn.
@pytest.mark.parametrize("fail_from", range(2, 12))
def test_interrupted_publish_is_finished_by_a_rerun(portal: Portal, admin, workdir: Path, fail_from: int) -> None:
    name = f"pub-fault-{fail_from}-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    proxy = FaultProxy(portal.url, fail_from)
    try:
        env = {**os.environ, "CKAN_URL": proxy.url, "CKAN_API_TOKEN": portal.admin_token,
               "OGD_PUBLISH_ATTEMPTS": "2", "OGD_PUBLISH_BACKOFF": "0.05"}
        failed = subprocess.run([sys.executable, "-m", "pipeline.cli", "publish", str(package)], cwd=REPO,
                                capture_output=True, text=True, env=env)
    finally:
        proxy.close()
    assert failed.returncode == 5, failed.stderr
    assert "kept answering HTTP 503" in failed.stderr and "safe to re-run" in failed.stderr
    rerun = publish_package(package, client_for(portal))
    assert rerun.changed
    dataset = admin.action.package_show(id=name)
    keys = sorted(r.get("ogd_key") for r in dataset["resources"])
    assert keys == published_keys(package)  # no duplicates
    for resource in dataset["resources"]:
        assert resource["hash"].startswith("sha256:")
    assert datastore_rows(admin, dataset) == local_rows(package)
    assert dataset["data_type"] == "ข้อมูลระเบียน"
    again = client_for(portal)
    assert not publish_package(package, again).changed and again.uploads == 0


def test_wrong_token_is_refused_before_any_write_and_never_printed(portal: Portal, admin, workdir: Path) -> None:
    name = f"pub-token-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    wrong = "wrong-" + uuid.uuid4().hex
    client = client_for(portal, wrong)
    with pytest.raises(AuthError) as refused:
        publish_package(package, client)
    assert "does not accept this API token" in refused.value.message
    assert set(client.actions) == {"organization_list_for_user"}
    summary = workdir / f"{name}-summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "publish", str(package), "--json", "--summary-file", str(summary)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "CKAN_URL": portal.url, "CKAN_API_TOKEN": wrong})
    assert result.returncode == 4
    assert "CKAN_API_TOKEN" in result.stderr
    with pytest.raises(ckanapi.NotFound):
        admin.action.package_show(id=name)
    good = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "publish", str(package), "--json", "--summary-file", str(summary)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token})
    assert good.returncode == 0, good.stderr
    for token in (wrong, portal.admin_token):
        for text in (result.stdout, result.stderr, good.stdout, good.stderr, summary.read_text()):
            assert token not in text
        for path in package.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes()


def test_editor_may_not_publish_into_another_organization(portal: Portal, workdir: Path) -> None:
    _, package = make_package(workdir, f"pub-editor-{RUN}", portal.other_org)
    with pytest.raises(AuthError) as refused:
        publish_package(package, client_for(portal, portal.editor_token))
    assert portal.other_org in refused.value.message


def test_dry_run_plans_and_writes_nothing(portal: Portal, admin, workdir: Path) -> None:
    name = f"pub-dry-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    client = client_for(portal)
    plan = publish_package(package, client, dry_run=True)
    assert plan.dataset_action == "create" and plan.rows_upserted == len(local_rows(package))
    assert client.uploads == 0 and not any(a.endswith(("_create", "_patch", "_upsert", "_delete")) for a in client.actions)
    with pytest.raises(ckanapi.NotFound):
        admin.action.package_show(id=name)
    cli = subprocess.run([sys.executable, "-m", "pipeline.cli", "publish", str(package), "--dry-run", "--json"],
                         cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token})
    assert cli.returncode == 0
    summary = json.loads(cli.stdout)
    assert summary["dry_run"] is True and summary["datasets"][0]["dataset_action"] == "create"


def test_pull_verifies_and_equals_the_published_package(portal: Portal, workdir: Path) -> None:
    name = f"pub-pull-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    publish_package(package, client_for(portal))
    out = workdir / f"{name}-pulled"
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "pull", name, "--out", str(out), "--json"], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, "CKAN_URL": portal.url})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["mismatches"] == [] and summary["validation"]["valid"]
    for relative in ("datapackage.json", "data/releases.csv", "data/releases.parquet"):
        assert (out / relative).read_bytes() == (package / relative).read_bytes()
    # A corrupted download is reported, not accepted.
    tampered = out / "data" / "releases.csv"
    tampered.write_bytes(tampered.read_bytes() + b" ")
    broken = subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(out)], cwd=REPO, capture_output=True, text=True)
    assert broken.returncode == 3


def test_thai_title_gets_a_romanised_slug_and_datastore_finds_thai_words(portal: Portal, admin, workdir: Path) -> None:
    # PyThaiNLP's offline "royin" engine: rule-based RTGS, one romanised word per segmented Thai word.
    assert romanised_slug("ข่าวทำเนียบรัฐบาล") == "khao-thamniapratban"
    assert romanised_slug("ชุดทดสอบ กรมประชาสัมพันธ์") == "chut-thadasop-kramaprachasamphan"
    name = f"pub-thai-{RUN}"
    _, package = make_package(workdir, name, portal.org, title=f"ข่าวทำเนียบรัฐบาล ชุดทดสอบ {RUN}")
    descriptor_path = package / "datapackage.json"
    descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    descriptor.pop("name")  # a package with only a Thai title: the dataset name comes from the title
    descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    # As a build of such a package would record it (publish refuses a descriptor edited after the build).
    report = json.loads((package / "report.json").read_text(encoding="utf-8"))
    report["descriptor_sha256"] = hashlib.sha256(descriptor_path.read_bytes()).hexdigest()
    (package / "report.json").write_text(json.dumps(report), encoding="utf-8")
    result = publish_package(package, client_for(portal))
    assert result.dataset.startswith("khao-thamniapratban-chut-thadasop-")
    assert re.fullmatch(r"[a-z0-9-]{2,100}", result.dataset)
    dataset = admin.action.package_show(id=result.dataset)
    csv = next(r for r in dataset["resources"] if r["ogd_key"] == "releases-csv")
    import pyarrow.parquet as pq

    first = pq.read_table(package / "data" / "releases.parquet").to_pylist()[0]
    spaced_body = " " + re.sub(r"\s+", " ", first["body"]) + " "
    # A word that stands inside unspaced Thai text: only body_words has it on its own.
    word = next(t for t in first["body_words"].split(" ")
                if re.fullmatch(r"[\u0e00-\u0e7f]{5,}", t) and f" {t} " not in spaced_body)
    found = admin.action.datastore_search(resource_id=csv["id"], q=word, fields=["release_id", "body"], limit=100)
    assert first["release_id"] in [record["release_id"] for record in found["records"]]
    assert all(word in record["body"] for record in found["records"])


def test_a_ckan_validation_error_keeps_its_field_and_exits_6(portal: Portal, workdir: Path) -> None:
    name = f"pub-longtag-{RUN}"
    _, package = make_package(workdir, name, portal.org, keywords=("ข่าว" * 40,))  # tags are at most 100 characters
    with pytest.raises(PortalRejected) as refused:
        publish_package(package, client_for(portal))
    # Refused before any write, by the tag check that follows CKAN's rules (the portal would say the same).
    assert refused.value.field_errors == {"tags": [f"tag {'ข่าว' * 40!r} has 160 character(s); CKAN allows 2 to 100"]}
    cli = subprocess.run([sys.executable, "-m", "pipeline.cli", "publish", str(package)], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "CKAN_URL": portal.url, "CKAN_API_TOKEN": portal.admin_token})
    assert cli.returncode == 6 and "tag" in cli.stderr and "Traceback" not in cli.stderr


def test_configured_ckan_name_is_the_dataset_name(portal: Portal, admin, workdir: Path) -> None:
    _, package = make_package(workdir, f"pub-pkgname-{RUN}", portal.org, ckan_name=f"custom-slug-{RUN}")
    result = publish_package(package, client_for(portal))
    assert result.dataset == f"custom-slug-{RUN}"
    assert admin.action.package_show(id=f"custom-slug-{RUN}")["title"]
