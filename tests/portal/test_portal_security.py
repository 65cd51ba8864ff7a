"""The local portal holds tokens and private datasets: passwords everywhere, owner-only files, no user-made orgs.

The first half needs no portal (the scripts' settings and the search stand-in
in-process); the second half checks the running local portal itself.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import ckanapi
import pytest

from conftest import REPO, Portal
from portal import manage
from portal.search_standin import Index, basic_auth_header, make_handler

RUN = uuid.uuid4().hex[:8]
SCHEMA_XML = b"<schema name='ckan' version='1.6'/>"


def _request(url: str, data: bytes | None = None, auth: str | None = None,
             content_type: str = "application/json") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = auth
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# ------------------------------------------------------------------ no portal needed


@pytest.fixture()
def standin(tmp_path: Path) -> Iterator[str]:
    """The search stand-in on a free loopback port, with the secret ckan:s3cret; stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 make_handler(Index(str(tmp_path / "index.sqlite")), SCHEMA_XML, ("ckan", "s3cret")))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/solr/ckan"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


PRIVATE_DOC = json.dumps([{"index_id": "doc-1", "id": "doc-1", "name": "secret-plan", "capacity": "private",
                           "title": "Private budget"}]).encode()


def test_search_standin_refuses_select_and_update_without_the_shared_secret(standin: str) -> None:
    good = basic_auth_header("ckan", "s3cret")
    assert _request(f"{standin}/update?commit=true", PRIVATE_DOC)[0] == 401
    assert _request(f"{standin}/update?commit=true", PRIVATE_DOC, auth=basic_auth_header("ckan", "guess"))[0] == 401
    assert _request(f"{standin}/update?commit=true", PRIVATE_DOC, auth=good)[0] == 200
    for auth in (None, basic_auth_header("ckan", "guess"), basic_auth_header("other", "s3cret"), "Bearer s3cret"):
        status, body = _request(f"{standin}/select?q=*:*&wt=json", auth=auth)
        assert status == 401 and b"secret-plan" not in body
    assert _request(f"{standin}/admin/ping", auth=None)[0] == 401
    form = b"q=%2A%3A%2A&wt=json"
    assert _request(f"{standin}/select", form, content_type="application/x-www-form-urlencoded")[0] == 401
    # the refused update above changed nothing; the authorized one is there
    status, body = _request(f"{standin}/select?q=*:*&wt=json", auth=good)
    assert status == 200 and [d["name"] for d in json.loads(body)["response"]["docs"]] == ["secret-plan"]
    delete = b"<delete><id>doc-1</id></delete>"
    assert _request(f"{standin}/update", delete, content_type="text/xml")[0] == 401
    assert json.loads(_request(f"{standin}/select?q=*:*&wt=json", auth=good)[1])["response"]["numFound"] == 1


def test_search_standin_requires_an_auth_file_and_listens_on_loopback_only(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "portal.search_standin", "--port", "1",
            "--db", str(tmp_path / "x.sqlite"), "--schema-xml", str(tmp_path / "schema.xml")]
    no_auth = subprocess.run(base, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert no_auth.returncode == 2 and "--auth-file" in no_auth.stderr
    everywhere = subprocess.run([*base, "--auth-file", "f", "--host", "0.0.0.0"], cwd=REPO, capture_output=True,
                                text=True, timeout=60)
    assert everywhere.returncode == 2 and "0.0.0.0" in everywhere.stderr


def _layout(tmp_path: Path) -> manage.Layout:
    return manage.Layout(root=tmp_path / "portal", ckan_port=5999, pg_port=54999, redis_port=63998, search_port=8999)


PASSWORDS = {"postgres": "pgsuper", "ckan_default": "ckanpw", "datastore_default": "dspw", "redis": "redispw",
             "search": "searchpw", "ckan_secret_key": "signingkey"}


def test_ckan_settings_carry_the_generated_passwords_and_forbid_what_users_may_not_do(tmp_path: Path) -> None:
    settings = manage.ckan_settings(_layout(tmp_path), PASSWORDS)
    assert settings["sqlalchemy.url"] == "postgresql://ckan_default:ckanpw@127.0.0.1:54999/ckan_default"
    assert settings["ckan.datastore.write_url"] == "postgresql://ckan_default:ckanpw@127.0.0.1:54999/datastore_default"
    assert settings["ckan.datastore.read_url"] == "postgresql://datastore_default:dspw@127.0.0.1:54999/datastore_default"
    assert settings["ckan.redis.url"] == "redis://:redispw@127.0.0.1:63998/0"
    assert (settings["solr_url"], settings["solr_user"], settings["solr_password"]) == \
        ("http://127.0.0.1:8999/solr/ckan", "ckan", "searchpw")
    assert settings["SECRET_KEY"] == "signingkey"
    for option in ("ckan.auth.user_create_organizations", "ckan.auth.user_create_groups",
                   "ckan.auth.anon_create_dataset", "ckan.auth.create_user_via_web", "ckan.auth.create_user_via_api",
                   "ckan.auth.create_unowned_dataset"):
        assert settings[option] == "false", option


def test_pg_hba_asks_every_connection_for_a_scram_password() -> None:
    rules = [line.split() for line in manage.PG_HBA.splitlines() if line.strip() and not line.startswith("#")]
    assert {rule[0] for rule in rules} == {"local", "host"}
    assert all(rule[-1] == "scram-sha-256" for rule in rules)
    assert not any(word in ("trust", "peer", "ident", "md5", "password") for rule in rules for word in rule)
    assert {rule[3] for rule in rules if rule[0] == "host"} == {"127.0.0.1/32", "::1/128"}


def test_redis_config_has_a_password_and_listens_on_loopback_only(tmp_path: Path) -> None:
    lines = manage.redis_config(_layout(tmp_path), "redispw").splitlines()
    assert "requirepass redispw" in lines
    assert "bind 127.0.0.1" in lines
    assert "protected-mode yes" in lines
    assert "port 63998" in lines


def test_secrets_are_generated_once_into_an_owner_only_file(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    layout.root.mkdir()
    first = manage.load_secrets(layout)
    assert set(first) == {"postgres", "ckan_default", "datastore_default", "redis", "search", "ckan_secret_key"}
    assert len(set(first.values())) == 6 and all(len(value) >= 32 for value in first.values())
    assert stat.S_IMODE(layout.secrets_file.stat().st_mode) == 0o600
    assert manage.load_secrets(layout) == first


def test_secure_modes_closes_the_files_of_a_portal_made_by_older_scripts(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    (layout.storage / "resources" / "abc").mkdir(parents=True)
    (layout.root / "venv" / "bin").mkdir(parents=True)
    old_files = [layout.ini, layout.root / "search.sqlite", layout.storage / "resources" / "abc" / "def",
                 layout.root / "db-initialised"]
    for path in old_files:
        path.write_text("data")
        path.chmod(0o644)
    for folder in (layout.root, layout.storage, layout.storage / "resources", layout.storage / "resources" / "abc"):
        folder.chmod(0o755)
    (layout.root / "venv" / "bin" / "python").write_text("")
    (layout.root / "venv" / "bin" / "python").chmod(0o755)
    manage.secure_modes(layout)
    for path in old_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (layout.storage, layout.storage / "resources", layout.storage / "resources" / "abc"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    root_mode = stat.S_IMODE(layout.root.stat().st_mode)
    if os.geteuid() == 0 and shutil.which("runuser"):
        assert root_mode == 0o710  # search permission for the postgres server's group only
    else:
        assert root_mode == 0o700
    assert stat.S_IMODE((layout.root / "venv" / "bin" / "python").stat().st_mode) == 0o755  # software, not state


def test_ini_options_with_passwords_are_set_in_place(tmp_path: Path) -> None:
    ini = tmp_path / "ckan.ini"
    ini.write_text("[DEFAULT]\ndebug = false\n\n[app:main]\nuse = egg:ckan\n"
                   "sqlalchemy.url = postgresql://ckan_default:pass@localhost/ckan_default\n#solr_password = x\n\n"
                   "[loggers]\nkeys = root\n")
    ini.chmod(0o644)
    manage._set_ini_options(ini, {"sqlalchemy.url": "postgresql://u:new@h/db", "solr_password": "pw"})
    assert ini.read_text() == (
        "[DEFAULT]\ndebug = false\n\n[app:main]\nuse = egg:ckan\n"
        "sqlalchemy.url = postgresql://u:new@h/db\n#solr_password = x\nsolr_password = pw\n\n"
        "[loggers]\nkeys = root\n")
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600


# ------------------------------------------------------------------ the running local portal


@pytest.fixture(scope="module")
def local_portal(portal: Portal) -> tuple[Portal, manage.Layout, dict[str, str]]:
    if not portal.local:
        pytest.skip("the portal under test is an external one named by CKAN_URL: its servers are not ours to probe")
    layout = manage.Layout.from_env()
    # a portal made by older scripts has no secrets.json: the tests below then fail on what they check
    passwords = json.loads(layout.secrets_file.read_text()) if layout.secrets_file.exists() else {}
    return portal, layout, passwords


def _psql_without_password(layout: manage.Layout, user: str) -> subprocess.CompletedProcess[str]:
    psql = manage._pg_bin("psql") or "psql"
    env = {key: value for key, value in os.environ.items() if key not in ("PGPASSWORD", "PGPASSFILE")}
    env["PGPASSFILE"] = "/nonexistent"
    command = [psql, "-h", "127.0.0.1", "-p", str(layout.pg_port), "-U", user, "-d", "postgres", "-w", "-tA",
               "-c", "SELECT 1"]
    if os.geteuid() == 0:  # as another local user, the way an attacker on the machine would try
        command = ["runuser", "-u", "nobody", "--", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd="/")


@pytest.mark.portal
def test_postgres_refuses_connections_without_a_password(local_portal: tuple[Portal, manage.Layout, dict[str, str]]) -> None:
    _, layout, passwords = local_portal
    for user in ("postgres", "ckan_default", "datastore_default"):
        refused = _psql_without_password(layout, user)
        assert refused.returncode != 0 and "no password supplied" in refused.stderr, (user, refused.stderr)
    hba = (layout.pg_data / "pg_hba.conf").read_text()
    methods = {line.split()[-1] for line in hba.splitlines() if line.strip() and not line.startswith("#")}
    assert methods == {"scram-sha-256"}
    # the generated password opens it (the refusal above is not a server that is down)
    accepted = manage._psql(layout, "SELECT 1;", password=passwords["postgres"])
    assert accepted.strip() == "1"


def _owner_only_problems(root: Path) -> list[str]:
    problems = []
    for path in [root, *root.rglob("*")]:
        if "venv" in path.relative_to(root).parts[:1]:
            continue  # installed software, no secrets
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        allowed = 0
        if path == root and os.geteuid() == 0:
            allowed = 0o010  # the postgres server's group may pass through to its own pg/ folder, nothing else
        if mode & 0o077 & ~allowed:
            problems.append(f"{path.relative_to(root) if path != root else '.'}: {oct(mode)}")
    return problems


@pytest.mark.portal
def test_no_portal_file_holding_secrets_or_data_is_readable_by_others(
        local_portal: tuple[Portal, manage.Layout, dict[str, str]], tmp_path: Path) -> None:
    portal, layout, _ = local_portal
    editor = ckanapi.RemoteCKAN(portal.url, apikey=portal.editor_token)
    private = editor.action.package_create(**_dataset(f"security-{RUN}", portal.org, private=True))
    upload_path = tmp_path / "private.csv"
    upload_path.write_text("a,b\r\n1,2\r\n")
    with open(upload_path, "rb") as upload:
        editor.action.resource_create(package_id=private["id"], name="private.csv", format="CSV", upload=upload)
    for name in ("ckan.ini", "env", "bootstrap.json", "secrets.json", "search.sqlite", "search-auth"):
        assert stat.S_IMODE((layout.root / name).stat().st_mode) == 0o600, name
    uploads = [p for p in (layout.storage / "resources").rglob("*") if p.is_file()]
    assert uploads and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in uploads)
    assert _owner_only_problems(layout.root) == []


def _redis(port: int, *commands: bytes) -> list[bytes]:
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for command in commands:
            sock.sendall(command + b"\r\n")
            answers.append(sock.recv(256))
    return answers


@pytest.mark.portal
def test_redis_refuses_unauthenticated_clients(local_portal: tuple[Portal, manage.Layout, dict[str, str]]) -> None:
    _, layout, passwords = local_portal
    assert _redis(layout.redis_port, b"PING")[0].startswith(b"-NOAUTH")
    assert _redis(layout.redis_port, b"AUTH wrong-password")[0].startswith(b"-WRONGPASS")
    authenticated = _redis(layout.redis_port, b"AUTH " + passwords["redis"].encode(), b"PING")
    assert authenticated == [b"+OK\r\n", b"+PONG\r\n"]


@pytest.mark.portal
def test_search_standin_of_the_portal_refuses_requests_without_the_secret(
        local_portal: tuple[Portal, manage.Layout, dict[str, str]]) -> None:
    portal, layout, passwords = local_portal
    editor = ckanapi.RemoteCKAN(portal.url, apikey=portal.editor_token)
    private = editor.action.package_create(**_dataset(f"hidden-{RUN}", portal.org, private=True))
    base = f"http://127.0.0.1:{layout.search_port}/solr/ckan"
    status, body = _request(f"{base}/select?q=*:*&rows=1000&wt=json")
    assert status == 401 and private["name"].encode() not in body
    fake = json.dumps([{"index_id": f"fake-{RUN}", "id": f"fake-{RUN}", "name": f"fake-{RUN}",
                        "capacity": "public", "state": "active"}]).encode()
    assert _request(f"{base}/update?commit=true", fake)[0] == 401
    secret = basic_auth_header("ckan", passwords["search"])
    status, body = _request(f"{base}/select?q=name:{private['name']}&wt=json", auth=secret)
    assert status == 200 and json.loads(body)["response"]["numFound"] == 1
    status, body = _request(f"{base}/select?q=name:fake-{RUN}&wt=json", auth=secret)
    assert status == 200 and json.loads(body)["response"]["numFound"] == 0
    # CKAN itself still searches through the stand-in with the secret
    assert editor.action.package_search(q=f"name:hidden-{RUN}", include_private=True)["count"] == 1


@pytest.mark.portal
def test_users_cannot_create_organizations_or_groups(portal: Portal) -> None:
    editor = ckanapi.RemoteCKAN(portal.url, apikey=portal.editor_token)
    with pytest.raises(ckanapi.NotAuthorized):
        editor.action.organization_create(name=f"typo-org-{RUN}", title="A mistyped --org")
    with pytest.raises(ckanapi.NotAuthorized):
        editor.action.group_create(name=f"user-group-{RUN}", title="A user's group")
    admin = ckanapi.RemoteCKAN(portal.url, apikey=portal.admin_token)
    with pytest.raises(ckanapi.NotFound):
        admin.action.organization_show(id=f"typo-org-{RUN}")


def _dataset(name: str, org: str, **overrides: object) -> dict:
    from test_portal import gdc_dataset

    return gdc_dataset(name, org, **overrides)


# ------------------------------------------------------------------ upgrading a portal made by older scripts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _psql_as(layout: manage.Layout, user: str, password: str | None, sql: str, database: str = "postgres"
             ) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PGPASSWORD", "PGPASSFILE")}
    env["PGPASSFILE"] = "/nonexistent"
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run([manage._pg_bin("psql") or "psql", "-h", "127.0.0.1", "-p", str(layout.pg_port), "-U", user,
                           "-d", database, "-w", "-tA", "-c", sql], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.portal  # needs the portal's PostgreSQL server binaries (not CKAN)
def test_a_trusting_cluster_of_older_scripts_is_upgraded_in_place_keeping_its_data() -> None:
    container = Path(tempfile.mkdtemp(prefix="ogd-pg-upgrade-", dir="/tmp"))
    container.chmod(0o755)  # as root, the postgres server must pass through to its folder
    layout = manage.Layout(root=container / "portal", ckan_port=_free_port(), pg_port=_free_port(),
                           redis_port=_free_port(), search_port=_free_port())
    layout.root.mkdir()
    layout.logs.mkdir()
    try:
        # the cluster exactly as the older scripts made it: trust for everyone, fixed role passwords
        layout.pg_data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(layout.pg_data, "postgres", "postgres")
            os.chown(layout.root, 0, grp.getgrnam("postgres").gr_gid)
            layout.root.chmod(0o710)
        manage._run(manage._as_postgres([manage._pg_bin("initdb") or "initdb", "-D", str(layout.pg_data), "-U",
                                         "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"]), what="initdb")
        with open(layout.pg_data / "postgresql.conf", "a") as conf:
            conf.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n")
        manage._run(manage._as_postgres([manage._pg_bin("pg_ctl") or "pg_ctl", "-D", str(layout.pg_data), "-l",
                                         str(layout.pg_data / "old.log"), "-o", f"-p {layout.pg_port}", "-w", "start"]),
                    what="pg_ctl start")
        manage._psql(layout, "CREATE ROLE ckan_default LOGIN PASSWORD 'ckan';"
                             "CREATE ROLE datastore_default LOGIN PASSWORD 'datastore';")
        manage._psql(layout, "CREATE DATABASE ckan_default OWNER ckan_default;")
        manage._psql(layout, "SET ROLE ckan_default; CREATE TABLE kept (value text); INSERT INTO kept VALUES ('ข้อมูลเดิม');",
                     database="ckan_default")
        assert _psql_as(layout, "postgres", None, "SELECT 1").returncode == 0  # the hole being closed

        passwords = manage.load_secrets(layout)
        manage.start_postgres(layout, passwords)  # what `make portal` does to it, while it runs

        assert manage.pg_hba_is_current(layout)
        for user in ("postgres", "ckan_default", "datastore_default"):
            refused = _psql_as(layout, user, None, "SELECT 1")
            assert refused.returncode != 0 and "no password supplied" in refused.stderr, user
        assert _psql_as(layout, "ckan_default", "ckan", "SELECT 1").returncode != 0  # the old fixed password
        kept = _psql_as(layout, "ckan_default", passwords["ckan_default"], "SELECT value FROM kept", "ckan_default")
        assert kept.returncode == 0 and kept.stdout.strip() == "ข้อมูลเดิม"
        assert _psql_as(layout, "datastore_default", passwords["datastore_default"], "SELECT 1").returncode == 0
        # and a restart of the upgraded cluster keeps asking
        assert manage.stop_service(layout, "postgres")
        manage.start_postgres(layout, passwords)
        assert "no password supplied" in _psql_as(layout, "postgres", None, "SELECT 1").stderr
    finally:
        manage.stop_service(layout, "postgres")
        shutil.rmtree(container, ignore_errors=True)
