"""Publishing under misuse and faults, on the real portal: organizations, lost answers, kills, concurrency,
the dataset lock, --verify, and which portal and token are used."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import ckanapi
import pytest
import requests

from conftest import REPO, Portal
from faultproxy import FaultProxy
from test_publish import datastore_rows, has_change_log, has_spreadsheet, local_rows, make_package, published_keys

pytestmark = pytest.mark.portal
RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def admin(portal: Portal) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("publish-safety")


def env_for(url: str, token: str, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "OGD_"))}
    return {**clean, "CKAN_URL": url, "CKAN_API_TOKEN": token, "OGD_PUBLISH_ATTEMPTS": "3",
            "OGD_PUBLISH_BACKOFF": "0.05", **extra}


def publish_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "publish", *args], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=300)


def keys_of(dataset: dict) -> list[str]:
    return sorted(r.get("ogd_key") for r in dataset["resources"])


def lock_field(dataset: dict) -> str | None:
    return next((e["value"] for e in dataset.get("extras", []) if e["key"] == "ogd_publish_lock"), None)


# ------------------------------------------------------------------ which portal, which token


def test_without_ckan_url_publish_names_the_local_portal_and_its_sysadmin_token(portal: Portal, workdir: Path) -> None:
    if not portal.local:
        pytest.skip("about the project's own local portal (.portal/env)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "OGD_"))}
    result = publish_cli(str(workdir / "no-such-package"), "--dry-run", env=clean)
    assert f"portal {portal.url} (from the local portal (" in result.stderr
    assert "token: the local portal's sysadmin token (" in result.stderr
    assert portal.admin_token not in result.stderr + result.stdout


# ------------------------------------------------------------------ organizations


def test_a_mistyped_org_is_refused_before_any_write_naming_the_allowed_ones(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-org-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    typo = f"prdd-{RUN}"
    for token in (portal.editor_token, portal.admin_token):
        result = publish_cli(str(package), "--org", typo, env=env_for(portal.url, token))
        assert result.returncode == 4, result.stderr
        assert f"organization {typo!r} does not exist on {portal.url}; this token may publish in:" in result.stderr
        assert portal.org in result.stderr and "--create-org" in result.stderr
        with pytest.raises(ckanapi.NotFound):
            admin.action.organization_show(id=typo)
    with pytest.raises(ckanapi.NotFound):
        admin.action.package_show(id=name)
    # Asked for, an organization is created (by a token that may).
    created = publish_cli(str(package), "--org", typo, "--create-org", env=env_for(portal.url, portal.admin_token))
    assert created.returncode == 0, created.stderr
    assert admin.action.package_show(id=name)["organization"]["name"] == typo


def test_an_existing_org_the_editor_is_not_a_member_of_is_refused(portal: Portal, workdir: Path) -> None:
    _, package = make_package(workdir, f"safe-member-{RUN}", portal.org)
    result = publish_cli(str(package), "--org", portal.other_org, env=env_for(portal.url, portal.editor_token))
    assert result.returncode == 4
    assert f"may not publish in organization {portal.other_org!r}" in result.stderr and portal.org in result.stderr


def test_a_package_without_organization_is_a_usage_error(portal: Portal, workdir: Path) -> None:
    _, package = make_package(workdir, f"safe-noorg-{RUN}", "")
    result = publish_cli(str(package), env=env_for(portal.url, portal.admin_token))
    assert result.returncode == 2, result.stderr
    assert "no organization for" in result.stderr and "--org" in result.stderr


def test_a_dataset_of_another_organization_is_not_moved(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-owner-{RUN}"
    _, theirs = make_package(workdir / "theirs", name, portal.other_org)
    assert publish_cli(str(theirs), env=env_for(portal.url, portal.admin_token)).returncode == 0
    _, ours = make_package(workdir / "ours", name, portal.org)
    result = publish_cli(str(ours), env=env_for(portal.url, portal.admin_token))
    assert result.returncode == 6 and f"belongs to organization {portal.other_org!r}" in result.stderr
    assert admin.action.package_show(id=name)["organization"]["name"] == portal.other_org


# ------------------------------------------------------------------ lost answers, kills


def test_a_lost_package_create_answer_leaves_one_dataset_and_exits_0(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-lostpkg-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    with FaultProxy(portal.url, drop_after={"package_create": 1}) as proxy:
        result = publish_cli(str(package), env=env_for(proxy.url, portal.admin_token))
    assert proxy.dropped["package_create"] == 1
    assert result.returncode == 0, result.stderr
    assert proxy.actions["package_create"] == 1  # looked again instead of re-sending
    dataset = admin.action.package_show(id=name)
    assert keys_of(dataset) == published_keys(package)
    assert lock_field(dataset) is None  # released


def test_lost_resource_create_answers_leave_one_resource_per_file(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-lostres-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    with FaultProxy(portal.url, drop_after={"resource_create": 3}) as proxy:
        result = publish_cli(str(package), "--json", env=env_for(proxy.url, portal.admin_token))
    assert proxy.dropped["resource_create"] == 3
    assert result.returncode == 0, result.stderr
    dataset = admin.action.package_show(id=name)
    assert keys_of(dataset) == published_keys(package)
    assert datastore_rows(admin, dataset) == local_rows(package)
    assert portal.admin_token not in result.stdout + result.stderr


def test_a_run_killed_mid_upsert_is_finished_by_an_immediate_rerun(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-killed-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    with FaultProxy(portal.url, hold_after={"datastore_upsert"}) as proxy:
        victim = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "publish", str(package)], cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=env_for(proxy.url, portal.admin_token))
        try:
            assert proxy.held.wait(120), "the publish never reached datastore_upsert"
        finally:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(30)
    assert lock_field(admin.action.package_show(id=name))  # the killed run's lock is still on the portal
    rerun = publish_cli(str(package), "--lock-wait", "5", env=env_for(portal.url, portal.admin_token))
    assert rerun.returncode == 0, rerun.stderr
    assert "taking over a publish lock left by a process of this machine that is gone" in rerun.stderr
    dataset = admin.action.package_show(id=name)
    assert keys_of(dataset) == published_keys(package)
    assert datastore_rows(admin, dataset) == local_rows(package)
    assert lock_field(dataset) is None


# ------------------------------------------------------------------ concurrency and the lock


@pytest.mark.parametrize("machines", ["one machine", "two machines"])
def test_two_concurrent_publishes_of_one_new_package(portal: Portal, admin, workdir: Path, machines: str) -> None:
    name = f"safe-twice-{machines.split()[0]}-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    lock_dirs = [workdir / f"{name}-lock-a", workdir / f"{name}-lock-b"]
    if machines == "one machine":
        lock_dirs = [lock_dirs[0], lock_dirs[0]]
    runs = [subprocess.Popen([sys.executable, "-m", "pipeline.cli", "publish", str(package)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env_for(portal.url, portal.admin_token, OGD_LOCK_DIR=str(lock_dir)))
            for lock_dir in lock_dirs]
    outcomes = [(run.wait(300), run.stderr.read() if run.stderr else "") for run in runs]
    for run in runs:
        if run.stdout:
            run.stdout.close()
        if run.stderr:
            run.stderr.close()
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 7]), outcomes
    if codes == [0, 7]:
        assert "another publish of dataset" in next(err for code, err in outcomes if code == 7)
    dataset = admin.action.package_show(id=name)
    assert keys_of(dataset) == published_keys(package)
    assert datastore_rows(admin, dataset) == local_rows(package)
    assert lock_field(dataset) is None


def test_a_live_lock_of_another_publisher_exits_7_and_an_expired_one_is_taken_over(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-lock-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    assert publish_cli(str(package), env=env_for(portal.url, portal.admin_token)).returncode == 0
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    admin.action.package_patch(id=name, extras=[{"key": "ogd_publish_lock", "value": f"{'f' * 32} {later} elsewhere 1"}])
    before = admin.action.package_show(id=name)
    busy = publish_cli(str(package), "--verify", "--lock-wait", "1", env=env_for(portal.url, portal.admin_token))
    assert busy.returncode == 7, busy.stderr
    assert f"another publish of dataset {name!r} on {portal.url} holds its lock (holder ffffffff" in busy.stderr
    assert "nothing was changed" in busy.stderr
    assert admin.action.package_show(id=name)["metadata_modified"] == before["metadata_modified"]

    admin.action.package_patch(id=name, extras=[{"key": "ogd_publish_lock",
                                                 "value": f"{'e' * 32} 2020-01-01T00:00:00Z elsewhere 1"}])
    taken = publish_cli(str(package), "--verify", "--lock-wait", "1", env=env_for(portal.url, portal.admin_token))
    assert taken.returncode == 0, taken.stderr
    assert "taking over a publish lock expired (holder eeeeeeee" in taken.stderr
    assert lock_field(admin.action.package_show(id=name)) is None


# ------------------------------------------------------------------ --verify


def download(url: str) -> bytes:
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    return response.content


def test_verify_repairs_a_file_tampered_on_the_portal_with_its_hash_kept(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-verify-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    assert publish_cli(str(package), env=env_for(portal.url, portal.admin_token)).returncode == 0
    csv = next(r for r in admin.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    original = (package / "data" / "releases.csv").read_bytes()
    tampered = original[:-2] + (b"X" if original[-2:-1] != b"X" else b"Y") + original[-1:]  # same size
    admin.call_action("resource_patch", {"id": csv["id"], "hash": csv["hash"], "size": csv["size"]},
                      files={"upload": ("releases.csv", io.BytesIO(tampered))})
    assert download(csv["url"]) == tampered
    assert next(r for r in admin.action.package_show(id=name)["resources"] if r["id"] == csv["id"])["hash"] == csv["hash"]

    trusting = publish_cli(str(package), "--json", env=env_for(portal.url, portal.admin_token))
    assert trusting.returncode == 0 and json.loads(trusting.stdout)["datasets"][0]["changed"] is False

    summary_file = workdir / f"{name}-summary.json"
    verified = publish_cli(str(package), "--verify", "--json", "--summary-file", str(summary_file),
                           env=env_for(portal.url, portal.admin_token))
    assert verified.returncode == 0, verified.stderr
    summary = json.loads(verified.stdout)["datasets"][0]
    excel = ["releases-excel"] if has_spreadsheet(package) else []
    log = ["changes"] if has_change_log(package) else []
    assert summary["verified"] == ["releases-csv", "releases-parquet", *excel, *log, "datapackage", "datastore"]
    assert summary["repaired"] == ["releases-csv"]
    assert {r["key"]: r["action"] for r in summary["resources"]} == {
        "releases-csv": "update", "releases-parquet": "skip", "datapackage": "skip",
        **{key: "skip" for key in excel + log}}
    assert "repaired releases-csv" in verified.stderr
    for text in (verified.stdout, verified.stderr, summary_file.read_text()):
        assert portal.admin_token not in text
    repaired = next(r for r in admin.action.package_show(id=name)["resources"] if r["ogd_key"] == "releases-csv")
    served = download(repaired["url"])
    assert served == original and hashlib.sha256(served).hexdigest() == repaired["hash"].removeprefix("sha256:")

    again = publish_cli(str(package), "--verify", "--json", env=env_for(portal.url, portal.admin_token))
    assert again.returncode == 0 and json.loads(again.stdout)["datasets"][0]["repaired"] == []


def test_verify_sends_the_token_only_to_the_portals_own_origin(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-private-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    assert publish_cli(str(package), env=env_for(portal.url, portal.admin_token)).returncode == 0
    admin.action.package_patch(id=name, private=True)
    # Through the proxy the resource URLs (the portal's address) are another origin: no token goes there, so the
    # private file is refused, and that is said (not "repaired" by an upload on every run).
    with FaultProxy(portal.url) as proxy:
        elsewhere = publish_cli(str(package), "--verify", env=env_for(proxy.url, portal.admin_token))
    assert elsewhere.returncode == 4, elsewhere.stderr
    assert "HTTP 403; no token was sent: the file is not on the portal's own origin" in elsewhere.stderr
    assert proxy.actions["resource_patch"] == 0 and proxy.actions["package_revise"] <= 2  # lock taken and released
    direct = publish_cli(str(package), "--verify", "--json", env=env_for(portal.url, portal.admin_token))
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["datasets"][0]["repaired"] == []


# ------------------------------------------------------------------ review of the #11 fixes: tags, the spreadsheet CSV


def test_a_one_character_tag_is_refused_before_any_write_naming_it(portal: Portal, admin, workdir: Path) -> None:
    name = f"safe-tag-{RUN}"
    _, package = make_package(workdir, name, portal.org, keywords=("ข่าว", "x"))
    result = publish_cli(str(package), env=env_for(portal.url, portal.admin_token))
    assert result.returncode == 6, result.stderr
    assert "tag 'x' has 1 character(s); CKAN allows 2 to 100" in result.stderr and "nothing was written" in result.stderr
    with pytest.raises(ckanapi.NotFound):
        admin.action.package_show(id=name)


def test_the_spreadsheet_csv_is_published_verified_and_pulled(portal: Portal, admin, workdir: Path) -> None:
    from test_client import add_spreadsheet

    name = f"safe-excel-{RUN}"
    _, package = make_package(workdir, name, portal.org)
    if not (package / "data" / "releases-excel.csv").exists():
        add_spreadsheet(package)  # until the build writes it
    excel = (package / "data" / "releases-excel.csv").read_bytes()
    first = publish_cli(str(package), "--json", env=env_for(portal.url, portal.admin_token))
    assert first.returncode == 0, first.stderr
    resource = next(r for r in admin.action.package_show(id=name)["resources"] if r.get("ogd_key") == "releases-excel")
    assert resource["name"] == f"{name}-excel.csv" and resource["format"] == "CSV"
    assert "programs should use releases.csv" in resource["description"] and "UTF-8 with BOM" in resource["description"]
    assert resource["hash"] == "sha256:" + hashlib.sha256(excel).hexdigest() and download(resource["url"]) == excel
    verified = publish_cli(str(package), "--verify", "--json", env=env_for(portal.url, portal.admin_token))
    assert verified.returncode == 0, verified.stderr
    assert "releases-excel" in json.loads(verified.stdout)["datasets"][0]["verified"]
    out = workdir / f"{name}-pulled"
    pulled = subprocess.run([sys.executable, "-m", "pipeline.cli", "pull", name, "--out", str(out)], cwd=REPO,
                            capture_output=True, text=True, env=env_for(portal.url, portal.admin_token), timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    assert (out / "data" / "releases-excel.csv").read_bytes() == excel
