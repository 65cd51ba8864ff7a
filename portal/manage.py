"""The local CKAN preview portal: up, down, reset, status (``make portal`` and friends).

A real CKAN 2.11 from PyPI in its own virtual environment, a private
PostgreSQL cluster, Redis, the DataStore, ckanext-scheming with the Thai GDC
schema, and :mod:`portal.search_standin` in place of Apache Solr
(search only; Solr cannot be installed here). All state lives in ``.portal/``
at the repository root; ``down`` stops exactly the processes ``up`` started,
by the PIDs it recorded.

Ports and the folder can be changed with environment variables:
``OGD_PORTAL_DIR``, ``OGD_PORTAL_PORT`` (CKAN, 5050), ``OGD_PORTAL_PG_PORT``
(54329), ``OGD_PORTAL_REDIS_PORT`` (63799), ``OGD_PORTAL_SEARCH_PORT`` (8984).

The portal holds API tokens and private datasets, so it is locked down even
on a developer's machine: PostgreSQL asks every connection for a password
(scram-sha-256), Redis and the search stand-in ask for one too, the passwords
are generated once into ``secrets.json`` (mode 600), and everything in the
portal folder is readable by its owner only (umask 077, folder mode 700).
``up`` upgrades a portal made by older scripts in place, keeping its data.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# ckanext-xloader: not a plugin of the local portal; portal/xloader.py runs a second server with it (as data.go.th
# runs), for the tests and the benchmark of publishing to a portal that loads CSV files into the DataStore itself.
# 2.5.2 resolves with CKAN's own pins (2.6.0 wants newer requests and urllib3); its wheel declares none of the
# libraries it imports beyond CKAN's: chardet, tabulator and Unidecode are named here, as 2.6.0 pins them.
CKAN_REQUIREMENTS = ["ckan[requirements]==2.11.6", "ckanext-scheming==3.1.0", "ckanext-xloader==2.5.2",
                     "chardet==7.6.0", "tabulator==1.53.5", "Unidecode==1.4.0"]
DEBIAN_PACKAGES = ["postgresql", "redis-server", "libpq-dev", "gcc", "python3-dev"]
SCHEMA_FILE = REPO_ROOT / "pipeline" / "schemas" / "thai_gdc_dataset.json"  # the library's GDC schema
PLUGIN_DIR = REPO_ROOT / "portal" / "ckanext-ogdportal"

ADMIN_USER = "ogd_admin"
EDITOR_USER = "ogd_editor"
ORG = "prd"
ORG_TITLE = "กรมประชาสัมพันธ์"
OTHER_ORG = "other-agency"
OTHER_ORG_TITLE = "หน่วยงานอื่น (Other agency)"
# What a visitor reads on each organization's page and in its box beside a dataset (set on every `up`).
ORG_DESCRIPTIONS = {
    ORG: "กรมประชาสัมพันธ์ สำนักนายกรัฐมนตรี: ข่าวประชาสัมพันธ์ของกรมและข่าวทำเนียบรัฐบาล เป็นข้อมูลเปิดที่เครื่องอ่านได้ "
         "(ตัวอย่างบนพอร์ทัลทดลอง)\n\nThe Government Public Relations Department (Office of the Prime Minister): its "
         "press releases and the Royal Thai Government's news as machine-readable open data (samples on a local "
         "preview portal).",
    OTHER_ORG: "หน่วยงานสำหรับทดสอบสิทธิ์: ผู้แก้ไขของกรมประชาสัมพันธ์เผยแพร่ที่นี่ไม่ได้\n\nAn organization for "
               "permission tests: the editor of prd may not publish here.",
}

# The generated passwords in secrets.json: PostgreSQL's superuser and CKAN's two roles, Redis, the search stand-in.
# (and CKAN's SECRET_KEY, which signs API tokens: a portal made by older scripts had it in a world-readable file).
SECRET_NAMES = ("postgres", "ckan_default", "datastore_default", "redis", "search", "ckan_secret_key")
SEARCH_USER = "ckan"  # the HTTP basic-auth user CKAN presents to the search stand-in (solr_user)

# Every connection to the portal's cluster needs a password: no `trust`, no `peer`.
PG_HBA = """# Written by ogd-pipeline's portal scripts (portal/manage.py): every connection needs a password.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 scram-sha-256
host    all          all   127.0.0.1/32  scram-sha-256
host    all          all   ::1/128       scram-sha-256
local   replication  all                 scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
host    replication  all   ::1/128       scram-sha-256
"""

# Auth settings of the portal: only sysadmins create organizations, groups and users.
CKAN_AUTH_SETTINGS = {
    "ckan.auth.user_create_organizations": "false",
    "ckan.auth.user_create_groups": "false",
    "ckan.auth.anon_create_dataset": "false",
    "ckan.auth.create_unowned_dataset": "false",
    "ckan.auth.create_user_via_web": "false",
    "ckan.auth.create_user_via_api": "false",
}


class PortalError(Exception):
    """A clear, actionable failure of the portal scripts (exit code 1)."""


@dataclass(frozen=True)
class Layout:
    root: Path
    ckan_port: int
    pg_port: int
    redis_port: int
    search_port: int

    @classmethod
    def from_env(cls) -> "Layout":
        return cls(
            root=Path(os.environ.get("OGD_PORTAL_DIR", REPO_ROOT / ".portal")).resolve(),
            ckan_port=int(os.environ.get("OGD_PORTAL_PORT", "5050")),
            pg_port=int(os.environ.get("OGD_PORTAL_PG_PORT", "54329")),
            redis_port=int(os.environ.get("OGD_PORTAL_REDIS_PORT", "63799")),
            search_port=int(os.environ.get("OGD_PORTAL_SEARCH_PORT", "8984")),
        )

    venv = property(lambda self: self.root / "venv")
    ckan_bin = property(lambda self: self.root / "venv" / "bin" / "ckan")
    pg_data = property(lambda self: self.root / "pg")
    run = property(lambda self: self.root / "run")
    logs = property(lambda self: self.root / "logs")
    ini = property(lambda self: self.root / "ckan.ini")
    storage = property(lambda self: self.root / "storage")
    env_file = property(lambda self: self.root / "env")
    bootstrap_file = property(lambda self: self.root / "bootstrap.json")
    secrets_file = property(lambda self: self.root / "secrets.json")
    pg_log = property(lambda self: self.root / "pg" / "log" / "postgres.log")  # inside the postgres-owned folder
    redis_conf = property(lambda self: self.root / "redis" / "redis.conf")
    search_auth_file = property(lambda self: self.root / "search-auth")
    url = property(lambda self: f"http://127.0.0.1:{self.ckan_port}")

    def pidfile(self, service: str) -> Path:
        return self.run / f"{service}.pid"


def log(message: str) -> None:
    print(f"[portal] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, timeout: float, what: str, logfile: Path | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    hint = f"; see {logfile}" if logfile else ""
    raise PortalError(f"{what} did not start listening on port {port} within {timeout:.0f} s{hint}")


def _run(cmd: list[str], *, env: dict[str, str] | None = None, input_text: str | None = None,
         what: str = "", capture: bool = True) -> str:
    result = subprocess.run(cmd, env=env, input=input_text, text=True, capture_output=capture, umask=0o077)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-15:]
        raise PortalError(f"{what or cmd[0]} failed (exit {result.returncode}):\n  " + "\n  ".join(detail))
    return result.stdout or ""


def _spawn(cmd: list[str], logfile: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
    """Start a long-running process in its own session; record its PID."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as out:
        # umask 077: uploads, the search index and logs are created readable by the owner only
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True, cwd=str(pidfile.parent.parent), umask=0o077)
    pidfile.write_text(f"{process.pid}\n")
    return process.pid


# ------------------------------------------------------------------ secrets and file modes


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (mode 600), atomically: never a moment with wider modes."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def load_secrets(layout: Layout) -> dict[str, str]:
    """The portal's generated passwords, created once (and completed when a newer script needs more)."""
    stored: dict[str, str] = {}
    if layout.secrets_file.exists():
        try:
            stored = json.loads(layout.secrets_file.read_text(encoding="utf-8"))
        except ValueError:
            raise PortalError(f"{layout.secrets_file} is not valid JSON; restore it, or run 'make portal-reset' "
                              "(wipes the portal's data)") from None
    missing = [name for name in SECRET_NAMES if not stored.get(name)]
    if missing:
        # hex: safe inside URLs, SQL literals and config files without quoting
        stored.update({name: secrets.token_hex(24) for name in missing})
        write_private(layout.secrets_file, json.dumps(stored, indent=2) + "\n")
    return stored


def _pg_group() -> int | None:
    """When run as root, PostgreSQL runs as `postgres` and must pass through the portal folder to reach pg/."""
    if os.geteuid() != 0:
        return None
    import grp

    try:
        return grp.getgrnam("postgres").gr_gid
    except KeyError:
        return None


def secure_modes(layout: Layout) -> None:
    """Owner-only modes for the portal's state: folders 700, files 600 (executables 700).

    The portal folder itself is 700; as root it is 710 with group `postgres`
    (search permission only, for the postgres server's own 700 folder pg/).
    The CKAN virtual environment is installed software and keeps its modes.
    """
    root = layout.root
    group = _pg_group()
    if group is not None:
        os.chown(root, 0, group)
        root.chmod(0o710)
    else:
        root.chmod(0o700)
    for entry in root.iterdir():
        if entry.name == "venv":
            continue
        paths = [entry] if not entry.is_dir() or entry.is_symlink() else [entry, *entry.rglob("*")]
        for path in paths:
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue  # removed while we walked (a server's temporary file)
            if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
                continue
            try:
                path.chmod(stat.S_IMODE(info.st_mode) & 0o700)
            except FileNotFoundError:
                continue


# ------------------------------------------------------------------ installation


def _pg_bin(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else shutil.which(name)


def ensure_system_packages() -> None:
    missing = [
        package for package, probe in (
            ("postgresql", _pg_bin("pg_ctl") and _pg_bin("initdb")),
            ("redis-server", shutil.which("redis-server")),
            ("libpq-dev", shutil.which("pg_config")),
            ("gcc", shutil.which("gcc")),
        ) if not probe
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise PortalError(
            f"missing system packages: {', '.join(missing)}; install them with "
            f"'sudo apt-get install -y {' '.join(missing)}' and run 'make portal' again"
        )
    log(f"installing Debian packages: {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], env=env, what="apt-get update")
    _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES], env=env,
         what="apt-get install")


def _plugin_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(PLUGIN_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
            digest.update(path.relative_to(PLUGIN_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_ckan_venv(layout: Layout) -> bool:
    """CKAN, ckanext-scheming and our small portal plugin, in CKAN's own virtual environment; True when (re)installed
    (a running CKAN must then restart to load the new plugin code and templates)."""
    marker = layout.venv / ".ogd-requirements"
    wanted = "\n".join([*CKAN_REQUIREMENTS, f"ckanext-ogdportal {_plugin_fingerprint()}"])
    if layout.ckan_bin.exists() and marker.exists() and marker.read_text() == wanted:
        return False
    log("installing CKAN into .portal/venv (first run: about 2 minutes)")
    if not (layout.venv / "bin" / "python").exists():
        _run([sys.executable, "-m", "venv", str(layout.venv)], what="python -m venv")
    pip = [str(layout.venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--upgrade", "pip", "wheel", "setuptools<81"], what="pip install pip")
    _run([*pip, *CKAN_REQUIREMENTS], what="pip install CKAN")
    build_dir = layout.root / "plugin-build"
    shutil.rmtree(build_dir, ignore_errors=True)
    shutil.copytree(PLUGIN_DIR, build_dir)  # build a copy: keeps the source tree free of build litter
    _run([*pip, "--force-reinstall", "--no-deps", str(build_dir)], what="pip install ckanext-ogdportal")
    shutil.rmtree(build_dir, ignore_errors=True)
    marker.write_text(wanted)
    return True


# ------------------------------------------------------------------ services


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _psql(layout: Layout, sql: str, database: str = "postgres", password: str | None = None) -> str:
    """Run SQL as the cluster's superuser; the password travels in the environment, never on a command line."""
    psql = _pg_bin("psql") or "psql"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSFILE", None)
    if password is not None:
        env["PGPASSWORD"] = password
    else:
        env.pop("PGPASSWORD", None)
    return _run([psql, "-h", "127.0.0.1", "-p", str(layout.pg_port), "-U", "postgres", "-d", database, "-w",
                 "-v", "ON_ERROR_STOP=1", "-qtA"], input_text=sql, env=env, what="psql")


def _initdb(layout: Layout, superuser_password: str) -> None:
    """A new cluster that asks every connection for a password from the first start."""
    layout.pg_data.mkdir(parents=True, exist_ok=True)
    # initdb reads the superuser's password from a file: a private temporary folder the server's user can read
    scratch = Path(tempfile.mkdtemp(prefix="ogd-initdb-"))
    try:
        password_file = scratch / "password"
        write_private(password_file, superuser_password + "\n")
        if os.geteuid() == 0:
            for path in (layout.pg_data, scratch, password_file):
                shutil.chown(path, "postgres", "postgres")
        _run(_as_postgres([_pg_bin("initdb") or "initdb", "-D", str(layout.pg_data), "-U", "postgres",
                           "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8", "--locale=C.UTF-8"]),
             what="initdb")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with open(layout.pg_data / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# ogd-pipeline local portal: loopback only, tuned for tests (not durable)\n"
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "password_encryption = 'scram-sha-256'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )


def _write_pg_hba(layout: Layout) -> None:
    write_private(layout.pg_data / "pg_hba.conf", PG_HBA)
    if os.geteuid() == 0:
        shutil.chown(layout.pg_data / "pg_hba.conf", "postgres", "postgres")


def pg_hba_is_current(layout: Layout) -> bool:
    try:
        return (layout.pg_data / "pg_hba.conf").read_text() == PG_HBA
    except FileNotFoundError:
        return False


def _role_passwords_sql(passwords: dict[str, str], roles: list[str]) -> str:
    return "SET password_encryption = 'scram-sha-256';" + "".join(
        f"ALTER ROLE {role} PASSWORD '{passwords[role]}';" for role in roles
    )


def start_postgres(layout: Layout, passwords: dict[str, str]) -> None:
    pid = _read_pid(layout.pg_data / "postmaster.pid")
    running = bool(pid and _alive(pid))
    if not running:
        if not (layout.pg_data / "PG_VERSION").exists():
            log("creating the PostgreSQL cluster")
            _initdb(layout, passwords["postgres"])
            _write_pg_hba(layout)
        (layout.pg_data / "postmaster.pid").unlink(missing_ok=True)
        layout.pg_log.parent.mkdir(parents=True, exist_ok=True)
        layout.pg_log.touch()
        if os.geteuid() == 0:
            shutil.chown(layout.pg_log.parent, "postgres", "postgres")
            shutil.chown(layout.pg_log, "postgres", "postgres")
        _run(_as_postgres([_pg_bin("pg_ctl") or "pg_ctl", "-D", str(layout.pg_data), "-l", str(layout.pg_log),
                           "-o", f"-p {layout.pg_port}", "-w", "-t", "60", "start"]), what="pg_ctl start")
        _wait_port(layout.pg_port, 30, "PostgreSQL", layout.pg_log)
    if not pg_hba_is_current(layout):
        # A cluster made by older scripts trusts every local connection: give the roles passwords while
        # that still lets us in, then ask everyone for one (the data stays as it is).
        log("upgrading PostgreSQL to password authentication (scram-sha-256)")
        query = "SELECT rolname FROM pg_roles WHERE rolname IN ('ckan_default','datastore_default');"
        try:
            existing, upgrade_password = _psql(layout, query).split(), None  # the old `trust` rules
        except PortalError:
            try:  # an upgrade that stopped half-way: the passwords may be in place already
                existing, upgrade_password = _psql(layout, query, password=passwords["postgres"]).split(), passwords["postgres"]
            except PortalError as error:
                raise PortalError(f"cannot log in to the portal's PostgreSQL to upgrade it ({error}); if "
                                  f"{layout.secrets_file} was lost, run 'make portal-reset' (wipes the portal's data)"
                                  ) from None
        _psql(layout, _role_passwords_sql(passwords, ["postgres", *sorted(existing)]), password=upgrade_password)
        _write_pg_hba(layout)
        _psql(layout, "SELECT pg_reload_conf();", password=passwords["postgres"])
    roles = _psql(layout, "SELECT rolname FROM pg_roles WHERE rolname IN ('ckan_default','datastore_default');",
                  password=passwords["postgres"]).split()
    if "ckan_default" not in roles:
        _psql(layout, "SET password_encryption = 'scram-sha-256';"
                      f"CREATE ROLE ckan_default LOGIN PASSWORD '{passwords['ckan_default']}';"
                      f"CREATE ROLE datastore_default LOGIN PASSWORD '{passwords['datastore_default']}';",
              password=passwords["postgres"])
        _psql(layout, "CREATE DATABASE ckan_default OWNER ckan_default ENCODING 'UTF8';", password=passwords["postgres"])
        _psql(layout, "CREATE DATABASE datastore_default OWNER ckan_default ENCODING 'UTF8';",
              password=passwords["postgres"])


def redis_config(layout: Layout, password: str) -> str:
    return (
        "# Written by ogd-pipeline's portal scripts: loopback only, a password, no persistence.\n"
        f"port {layout.redis_port}\nbind 127.0.0.1\nprotected-mode yes\nrequirepass {password}\n"
        f"dir {layout.root / 'redis'}\nsave \"\"\nappendonly no\ndaemonize no\n"
    )


def redis_answers_without_password(port: int) -> bool:
    """True when a Redis on the port serves an unauthenticated client (one started by older scripts)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def search_answers_without_password(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/solr/ckan/admin/ping", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_redis(layout: Layout, password: str) -> None:
    pid = _read_pid(layout.pidfile("redis"))
    if pid and _alive(pid) and redis_answers_without_password(layout.redis_port):
        log("Redis was started without a password (older scripts): restarting it with one")
        stop_service(layout, "redis")
    elif pid and _alive(pid):
        return
    (layout.root / "redis").mkdir(parents=True, exist_ok=True)
    # the password goes in a mode-600 config file: a command line is visible to every local user
    write_private(layout.redis_conf, redis_config(layout, password))
    redis = shutil.which("redis-server") or "redis-server"
    _spawn([redis, str(layout.redis_conf)], layout.logs / "redis.log", layout.pidfile("redis"))
    _wait_port(layout.redis_port, 20, "Redis", layout.logs / "redis.log")


def start_search(layout: Layout, password: str) -> None:
    pid = _read_pid(layout.pidfile("search"))
    if pid and _alive(pid) and search_answers_without_password(layout.search_port):
        log("the search stand-in was started without a password (older scripts): restarting it with one")
        stop_service(layout, "search")
    elif pid and _alive(pid):
        return
    schema_xml = next(iter(glob.glob(str(layout.venv / "lib" / "python3*" / "site-packages" / "ckan" / "config"
                                         / "solr" / "schema.xml"))), None)
    if schema_xml is None:
        raise PortalError("CKAN's bundled solr/schema.xml was not found in .portal/venv; run 'make portal-reset'")
    write_private(layout.search_auth_file, f"{SEARCH_USER}:{password}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    _spawn([sys.executable, "-m", "portal.search_standin", "--host", "127.0.0.1",
            "--port", str(layout.search_port), "--db", str(layout.root / "search.sqlite"),
            "--schema-xml", schema_xml, "--auth-file", str(layout.search_auth_file)],
           layout.logs / "search.log", layout.pidfile("search"), env=env)
    _wait_port(layout.search_port, 20, "the search stand-in", layout.logs / "search.log")


def ckan_settings(layout: Layout, passwords: dict[str, str]) -> dict[str, str]:
    """What `make portal` sets in ckan.ini (on top of `ckan generate config`), the generated passwords included."""
    pg = f"127.0.0.1:{layout.pg_port}"
    ckan_db, datastore_db = passwords["ckan_default"], passwords["datastore_default"]
    return {
        "sqlalchemy.url": f"postgresql://ckan_default:{ckan_db}@{pg}/ckan_default",
        "ckan.datastore.write_url": f"postgresql://ckan_default:{ckan_db}@{pg}/datastore_default",
        "ckan.datastore.read_url": f"postgresql://datastore_default:{datastore_db}@{pg}/datastore_default",
        "ckan.site_url": layout.url,
        "ckan.site_id": "ogd_local",
        "ckan.site_title": "ogd-pipeline local portal (ข้อมูลเปิดภาครัฐ)",
        "ckan.storage_path": str(layout.storage),
        "ckan.redis.url": f"redis://:{passwords['redis']}@127.0.0.1:{layout.redis_port}/0",
        "solr_url": f"http://127.0.0.1:{layout.search_port}/solr/ckan",
        "solr_user": SEARCH_USER,
        "solr_password": passwords["search"],
        "SECRET_KEY": passwords["ckan_secret_key"],
        # datatables_view: the preview of a DataStore table (sort, filter, page); text_view shows datapackage.json.
        # Parquet has no CKAN view. ogd_portal before scheming_datasets: the first plugin's templates win.
        "ckan.plugins": "activity datastore datatables_view text_view ogd_portal scheming_datasets",
        "ckan.views.default_views": "datatables_view text_view",
        "scheming.dataset_schemas": SCHEMA_FILE.resolve().as_uri(),
        "scheming.presets": "ckanext.scheming:presets.json",
        "scheming.dataset_fallback": "false",
        "ckan.max_resource_size": "200",
        "ckan.locale_default": "th",
        "ckan.locales_offered": "th en",
        **CKAN_AUTH_SETTINGS,
        "ckan.datastore.sqlsearch.enabled": "false",
        "ckan.devserver.threaded": "true",
    }


_SECRET_SETTINGS = {"sqlalchemy.url", "ckan.datastore.write_url", "ckan.datastore.read_url", "ckan.redis.url",
                    "solr_password", "SECRET_KEY"}


def _set_ini_options(ini: Path, options: dict[str, str]) -> None:
    """Set options in ckan.ini's [app:main] section in place (comments and order kept), mode 600."""
    lines = ini.read_text(encoding="utf-8").splitlines()
    try:
        section_start = next(i for i, line in enumerate(lines) if line.strip() == "[app:main]")
    except StopIteration:
        raise PortalError(f"{ini} has no [app:main] section; run 'make portal-reset'") from None
    section_end = next((i for i in range(section_start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
                       len(lines))
    pending = dict(options)
    for i in range(section_start + 1, section_end):
        key = lines[i].split("=", 1)[0].strip() if "=" in lines[i] and not lines[i].lstrip().startswith(("#", ";")) else None
        if key in pending:
            lines[i] = f"{key} = {pending.pop(key)}"
    insert_at = section_end
    while insert_at > section_start + 1 and not lines[insert_at - 1].strip():
        insert_at -= 1
    lines[insert_at:insert_at] = [f"{key} = {value}" for key, value in pending.items()]
    write_private(ini, "\n".join(lines) + "\n")


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def configure_ckan(layout: Layout, passwords: dict[str, str]) -> bool:
    """Write ckan.ini (and initialise the database once); return True when ckan.ini changed."""
    ckan = str(layout.ckan_bin)
    before = _file_digest(layout.ini)
    if not layout.ini.exists():
        _run([ckan, "generate", "config", str(layout.ini)], what="ckan generate config")
    layout.storage.mkdir(parents=True, exist_ok=True)
    settings = ckan_settings(layout, passwords)
    layout.ini.chmod(0o600)
    # config-tool takes its settings as arguments, which every local user can see in the process list:
    # the settings that carry a password are written directly instead
    _run([ckan, "config-tool", str(layout.ini), *[f"{k}={v}" for k, v in settings.items() if k not in _SECRET_SETTINGS]],
         what="ckan config-tool")
    _set_ini_options(layout.ini, {k: v for k, v in settings.items() if k in _SECRET_SETTINGS})
    layout.ini.chmod(0o600)
    state = layout.root / "db-initialised"
    if not state.exists():
        log("initialising CKAN's database")
        _run([ckan, "-c", str(layout.ini), "db", "init"], what="ckan db init")
        _run([ckan, "-c", str(layout.ini), "db", "upgrade"], what="ckan db upgrade")
        permissions = _run([ckan, "-c", str(layout.ini), "datastore", "set-permissions"],
                           what="ckan datastore set-permissions")
        _psql(layout, permissions, database="datastore_default", password=passwords["postgres"])
        state.write_text("ok\n")
    return _file_digest(layout.ini) != before


def start_ckan(layout: Layout) -> None:
    pid = _read_pid(layout.pidfile("ckan"))
    if not (pid and _alive(pid)):
        _spawn([str(layout.ckan_bin), "-c", str(layout.ini), "run", "-H", "127.0.0.1", "-p", str(layout.ckan_port),
                "--disable-reloader", "--threaded"], layout.logs / "ckan.log", layout.pidfile("ckan"))
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{layout.url}/api/action/status_show", timeout=5) as response:
                if json.load(response).get("success"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        pid = _read_pid(layout.pidfile("ckan"))
        if not (pid and _alive(pid)):
            raise PortalError(f"CKAN exited while starting; see {layout.logs / 'ckan.log'}")
        time.sleep(0.5)
    raise PortalError(f"CKAN did not answer within 120 s; see {layout.logs / 'ckan.log'}")


def _api(layout: Layout, action: str, data: dict[str, Any], token: str) -> Any:
    request = urllib.request.Request(
        f"{layout.url}/api/action/{action}", data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "Authorization": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["result"]
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        raise PortalError(f"{action} failed with HTTP {exc.code}: {body[:500]}") from None


def _token_works(layout: Layout, user: str, token: str) -> bool:
    """True when the portal accepts the token (api_token_list of one's own user needs a valid token)."""
    try:
        _api(layout, "api_token_list", {"user_id": user}, token)
    except PortalError:
        return False
    return True


def _issue_tokens(layout: Layout) -> dict[str, str]:
    output = _run([str(layout.ckan_bin), "-c", str(layout.ini), "user", "token", "add", ADMIN_USER, "ogd-pipeline"],
                  what="ckan user token add")
    admin_token = output.strip().splitlines()[-1].strip()
    editor_token = _api(layout, "api_token_create", {"user": EDITOR_USER, "name": "ogd-pipeline"}, admin_token)["token"]
    return {"admin_token": admin_token, "editor_token": editor_token}


def bootstrap(layout: Layout) -> dict[str, str]:
    """Create the sysadmin, the organizations, the editor and their API tokens (once).

    Tokens that no longer work (a portal upgraded from older scripts got a new
    SECRET_KEY, which signs them) are issued again.
    """
    if layout.bootstrap_file.exists():
        state = json.loads(layout.bootstrap_file.read_text())
        if _token_works(layout, ADMIN_USER, state["admin_token"]) and \
                _token_works(layout, EDITOR_USER, state["editor_token"]):
            return state
        log("issuing new API tokens for the sysadmin and the editor (the old ones were signed with an old key)")
        state.update(_issue_tokens(layout))
        write_private(layout.bootstrap_file, json.dumps(state))
        return state
    ckan = [str(layout.ckan_bin), "-c", str(layout.ini)]
    log("creating the sysadmin, organizations and editor")
    password = secrets.token_urlsafe(16)
    # `ckan user add` takes the password as an argument, visible in the process list: it gets a throw-away
    # one, replaced through the API (the request body is not visible) right after
    _run([*ckan, "user", "add", ADMIN_USER, f"email={ADMIN_USER}@example.invalid",
          f"password={secrets.token_urlsafe(16)}"], what="ckan user add")
    _run([*ckan, "sysadmin", "add", ADMIN_USER], what="ckan sysadmin add")
    output = _run([*ckan, "user", "token", "add", ADMIN_USER, "ogd-pipeline"], what="ckan user token add")
    admin_token = output.strip().splitlines()[-1].strip()
    _api(layout, "user_patch", {"id": ADMIN_USER, "password": password}, admin_token)
    _api(layout, "user_create", {"name": EDITOR_USER, "email": f"{EDITOR_USER}@example.invalid",
                                 "password": secrets.token_urlsafe(16)}, admin_token)
    for name, title in ((ORG, ORG_TITLE), (OTHER_ORG, OTHER_ORG_TITLE)):
        _api(layout, "organization_create", {"name": name, "title": title}, admin_token)
    _api(layout, "organization_member_create", {"id": ORG, "username": EDITOR_USER, "role": "editor"}, admin_token)
    editor_token = _api(layout, "api_token_create", {"user": EDITOR_USER, "name": "ogd-pipeline"}, admin_token)["token"]
    state = {"admin_token": admin_token, "editor_token": editor_token, "admin_password": password}
    write_private(layout.bootstrap_file, json.dumps(state))
    return state


def describe_organizations(layout: Layout, admin_token: str) -> None:
    """Give the portal's organizations their descriptions (a portal made by older scripts had none)."""
    for name, description in ORG_DESCRIPTIONS.items():
        current = _api(layout, "organization_show", {"id": name, "include_datasets": False}, admin_token)
        if current.get("description") != description:
            _api(layout, "organization_patch", {"id": name, "description": description}, admin_token)


def write_env(layout: Layout, state: dict[str, str]) -> None:
    lines = [
        "# Written by `make portal`: the local CKAN preview portal. Secrets: do not commit or print.",
        f"CKAN_URL={layout.url}",
        f"CKAN_API_TOKEN={state['admin_token']}",
        f"CKAN_EDITOR_TOKEN={state['editor_token']}",
        f"CKAN_ORG={ORG}",
        f"CKAN_OTHER_ORG={OTHER_ORG}",
        f"CKAN_ADMIN_USER={ADMIN_USER}",
        f"CKAN_EDITOR_USER={EDITOR_USER}",
    ]
    write_private(layout.env_file, "\n".join(lines) + "\n")


# ------------------------------------------------------------------ commands

SERVICES = ("ckan", "search", "redis", "postgres")


def _service_pid(layout: Layout, service: str) -> int | None:
    if service == "postgres":
        return _read_pid(layout.pg_data / "postmaster.pid")
    return _read_pid(layout.pidfile(service))


def _ports(layout: Layout) -> dict[str, tuple[int, str]]:
    return {
        "ckan": (layout.ckan_port, "OGD_PORTAL_PORT"),
        "search": (layout.search_port, "OGD_PORTAL_SEARCH_PORT"),
        "redis": (layout.redis_port, "OGD_PORTAL_REDIS_PORT"),
        "postgres": (layout.pg_port, "OGD_PORTAL_PG_PORT"),
    }


def up(layout: Layout) -> None:
    started = time.time()
    os.umask(0o077)  # everything this run creates is its owner's only
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    clashes = []
    for service, (port, variable) in _ports(layout).items():
        pid = _service_pid(layout, service)
        if pid and _alive(pid):
            continue
        if pid:
            log(f"{service}: a previous run left a stale PID {pid} (not running); cleaning it up")
            if service != "postgres":
                layout.pidfile(service).unlink(missing_ok=True)
        if not _port_free(port):
            clashes.append(f"port {port} (for {service}) is in use by another process; stop that process or "
                           f"choose another port with {variable}=... make portal")
    if clashes:
        raise PortalError("; ".join(clashes))
    passwords = load_secrets(layout)
    secure_modes(layout)  # a portal made by older scripts: close its readable files before anything else
    ensure_system_packages()
    installed = ensure_ckan_venv(layout)
    start_postgres(layout, passwords)
    start_redis(layout, passwords["redis"])
    start_search(layout, passwords["search"])
    if configure_ckan(layout, passwords) | installed:  # both run: the ini is written either way
        pid = _service_pid(layout, "ckan")
        if pid and _alive(pid):
            log("ckan.ini or the portal plugin changed: restarting CKAN")
            stop_service(layout, "ckan")
    start_ckan(layout)
    state = bootstrap(layout)
    describe_organizations(layout, state["admin_token"])
    write_env(layout, state)
    secure_modes(layout)
    log(f"ready in {time.time() - started:.0f} s")
    print(f"CKAN portal: {layout.url}  (credentials and tokens: {layout.env_file})")


def stop_service(layout: Layout, service: str) -> bool:
    """Stop one service `up` started, by its recorded PID; return True when it no longer runs."""
    pid = _service_pid(layout, service)
    if not pid or not _alive(pid):
        return True
    log(f"stopping {service} (PID {pid})")
    if service == "postgres":
        try:
            _run(_as_postgres([_pg_bin("pg_ctl") or "pg_ctl", "-D", str(layout.pg_data), "-m", "fast",
                               "-w", "-t", "30", "stop"]), what="pg_ctl stop")
        except PortalError:
            os.kill(pid, signal.SIGTERM)
    else:
        try:
            os.killpg(pid, signal.SIGTERM)  # the whole session: CKAN's server threads and children
        except ProcessLookupError:
            pass
    deadline = time.time() + 20
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        log(f"{service} ignored SIGTERM; killing PID {pid}")
        try:
            os.killpg(pid, signal.SIGKILL) if service != "postgres" else os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.5)
    stopped = not _alive(pid)
    if service != "postgres":
        layout.pidfile(service).unlink(missing_ok=True)
    return stopped


def down(layout: Layout) -> bool:
    """Stop every process `up` started, by PID; return True when none remains."""
    stopped_all = True
    for service in SERVICES:
        stopped_all &= stop_service(layout, service)
    return stopped_all


def status(layout: Layout) -> bool:
    running = True
    for service in SERVICES:
        pid = _service_pid(layout, service)
        alive = bool(pid and _alive(pid))
        running &= alive
        print(f"{service:9} {'running' if alive else 'stopped'}" + (f" (PID {pid})" if alive else ""))
    return running


def reset(layout: Layout) -> None:
    down(layout)
    if not layout.root.exists():
        return
    for entry in layout.root.iterdir():
        if entry.name == "venv":
            continue  # installed software, not state: kept so the next `make portal` is fast
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    log(f"wiped the portal state in {layout.root} (kept the CKAN virtual environment)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.manage", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "reset", "status"])
    args = parser.parse_args(argv)
    layout = Layout.from_env()
    try:
        if args.command == "up":
            up(layout)
        elif args.command == "down":
            return 0 if down(layout) else 1
        elif args.command == "reset":
            reset(layout)
        else:
            return 0 if status(layout) else 3
    except PortalError as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
