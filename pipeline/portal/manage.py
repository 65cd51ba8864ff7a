"""The local CKAN preview portal: up, down, reset, status (``make portal`` and friends).

A real CKAN 2.11 from PyPI in its own virtual environment, a private
PostgreSQL cluster, Redis, the DataStore, ckanext-scheming with the Thai GDC
schema, and :mod:`pipeline.portal.search_standin` in place of Apache Solr
(search only; Solr cannot be installed here). All state lives in ``.portal/``
at the repository root; ``down`` stops exactly the processes ``up`` started,
by the PIDs it recorded.

Ports and the folder can be changed with environment variables:
``OGD_PORTAL_DIR``, ``OGD_PORTAL_PORT`` (CKAN, 5050), ``OGD_PORTAL_PG_PORT``
(54329), ``OGD_PORTAL_REDIS_PORT`` (63799), ``OGD_PORTAL_SEARCH_PORT`` (8984).
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
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CKAN_REQUIREMENTS = ["ckan[requirements]==2.11.6", "ckanext-scheming==3.1.0"]
DEBIAN_PACKAGES = ["postgresql", "redis-server", "libpq-dev", "gcc", "python3-dev"]
SCHEMA_FILE = Path(__file__).resolve().parent / "thai_gdc_dataset.json"
PLUGIN_DIR = REPO_ROOT / "portal" / "ckanext-ogdportal"

ADMIN_USER = "ogd_admin"
EDITOR_USER = "ogd_editor"
ORG = "prd"
ORG_TITLE = "กรมประชาสัมพันธ์"
OTHER_ORG = "other-agency"
OTHER_ORG_TITLE = "หน่วยงานอื่น (Other agency)"


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
    result = subprocess.run(cmd, env=env, input=input_text, text=True, capture_output=capture)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-15:]
        raise PortalError(f"{what or cmd[0]} failed (exit {result.returncode}):\n  " + "\n  ".join(detail))
    return result.stdout or ""


def _spawn(cmd: list[str], logfile: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
    """Start a long-running process in its own session; record its PID."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True, cwd=str(pidfile.parent.parent))
    pidfile.write_text(f"{process.pid}\n")
    return process.pid


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


def ensure_ckan_venv(layout: Layout) -> None:
    """CKAN, ckanext-scheming and our small portal plugin, in CKAN's own virtual environment."""
    marker = layout.venv / ".ogd-requirements"
    wanted = "\n".join([*CKAN_REQUIREMENTS, f"ckanext-ogdportal {_plugin_fingerprint()}"])
    if layout.ckan_bin.exists() and marker.exists() and marker.read_text() == wanted:
        return
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


# ------------------------------------------------------------------ services


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _psql(layout: Layout, sql: str, database: str = "postgres") -> str:
    psql = _pg_bin("psql") or "psql"
    return _run([psql, "-h", "127.0.0.1", "-p", str(layout.pg_port), "-U", "postgres", "-d", database,
                 "-v", "ON_ERROR_STOP=1", "-qtA"], input_text=sql, what="psql")


def start_postgres(layout: Layout) -> None:
    pid = _read_pid(layout.pg_data / "postmaster.pid")
    if pid and _alive(pid):
        return
    if not (layout.pg_data / "PG_VERSION").exists():
        log("creating the PostgreSQL cluster")
        layout.pg_data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(layout.pg_data, "postgres", "postgres")
        _run(_as_postgres([_pg_bin("initdb") or "initdb", "-D", str(layout.pg_data), "-U", "postgres",
                           "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"]), what="initdb")
        with open(layout.pg_data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# ogd-pipeline local portal: loopback only, tuned for tests (not durable)\n"
                "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
    (layout.pg_data / "postmaster.pid").unlink(missing_ok=True)
    logfile = layout.logs / "postgres.log"
    layout.logs.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        logfile.touch()
        shutil.chown(logfile, "postgres", "postgres")
    _run(_as_postgres([_pg_bin("pg_ctl") or "pg_ctl", "-D", str(layout.pg_data), "-l", str(logfile),
                       "-o", f"-p {layout.pg_port}", "-w", "-t", "60", "start"]), what="pg_ctl start")
    _wait_port(layout.pg_port, 30, "PostgreSQL", logfile)
    roles = _psql(layout, "SELECT rolname FROM pg_roles WHERE rolname IN ('ckan_default','datastore_default');")
    if "ckan_default" not in roles:
        _psql(layout, "CREATE ROLE ckan_default LOGIN PASSWORD 'ckan';"
                      "CREATE ROLE datastore_default LOGIN PASSWORD 'datastore';")
        _psql(layout, "CREATE DATABASE ckan_default OWNER ckan_default ENCODING 'UTF8';")
        _psql(layout, "CREATE DATABASE datastore_default OWNER ckan_default ENCODING 'UTF8';")


def start_redis(layout: Layout) -> None:
    pid = _read_pid(layout.pidfile("redis"))
    if pid and _alive(pid):
        return
    (layout.root / "redis").mkdir(parents=True, exist_ok=True)
    redis = shutil.which("redis-server") or "redis-server"
    _spawn([redis, "--port", str(layout.redis_port), "--bind", "127.0.0.1", "--dir", str(layout.root / "redis"),
            "--save", "", "--appendonly", "no", "--daemonize", "no"],
           layout.logs / "redis.log", layout.pidfile("redis"))
    _wait_port(layout.redis_port, 20, "Redis", layout.logs / "redis.log")


def start_search(layout: Layout) -> None:
    pid = _read_pid(layout.pidfile("search"))
    if pid and _alive(pid):
        return
    schema_xml = next(iter(glob.glob(str(layout.venv / "lib" / "python3*" / "site-packages" / "ckan" / "config"
                                         / "solr" / "schema.xml"))), None)
    if schema_xml is None:
        raise PortalError("CKAN's bundled solr/schema.xml was not found in .portal/venv; run 'make portal-reset'")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    _spawn([sys.executable, "-m", "pipeline.portal.search_standin", "--port", str(layout.search_port),
            "--db", str(layout.root / "search.sqlite"), "--schema-xml", schema_xml],
           layout.logs / "search.log", layout.pidfile("search"), env=env)
    _wait_port(layout.search_port, 20, "the search stand-in", layout.logs / "search.log")


def configure_ckan(layout: Layout) -> None:
    ckan = str(layout.ckan_bin)
    first_time = not layout.ini.exists()
    if first_time:
        _run([ckan, "generate", "config", str(layout.ini)], what="ckan generate config")
    layout.storage.mkdir(parents=True, exist_ok=True)
    pg = f"127.0.0.1:{layout.pg_port}"
    settings = {
        "sqlalchemy.url": f"postgresql://ckan_default:ckan@{pg}/ckan_default",
        "ckan.datastore.write_url": f"postgresql://ckan_default:ckan@{pg}/datastore_default",
        "ckan.datastore.read_url": f"postgresql://datastore_default:datastore@{pg}/datastore_default",
        "ckan.site_url": layout.url,
        "ckan.site_id": "ogd_local",
        "ckan.site_title": "ogd-pipeline local portal (ข้อมูลเปิดภาครัฐ)",
        "ckan.storage_path": str(layout.storage),
        "ckan.redis.url": f"redis://127.0.0.1:{layout.redis_port}/0",
        "solr_url": f"http://127.0.0.1:{layout.search_port}/solr/ckan",
        "ckan.plugins": "activity datastore scheming_datasets ogd_portal",
        "scheming.dataset_schemas": SCHEMA_FILE.resolve().as_uri(),
        "scheming.presets": "ckanext.scheming:presets.json",
        "scheming.dataset_fallback": "false",
        "ckan.max_resource_size": "200",
        "ckan.locale_default": "th",
        "ckan.locales_offered": "th en",
        "ckan.auth.create_user_via_web": "false",
        "ckan.datastore.sqlsearch.enabled": "false",
        "ckan.devserver.threaded": "true",
    }
    _run([ckan, "config-tool", str(layout.ini), *[f"{k}={v}" for k, v in settings.items()]],
         what="ckan config-tool")
    state = layout.root / "db-initialised"
    if not state.exists():
        log("initialising CKAN's database")
        _run([ckan, "-c", str(layout.ini), "db", "init"], what="ckan db init")
        _run([ckan, "-c", str(layout.ini), "db", "upgrade"], what="ckan db upgrade")
        permissions = _run([ckan, "-c", str(layout.ini), "datastore", "set-permissions"],
                           what="ckan datastore set-permissions")
        _psql(layout, permissions, database="datastore_default")
        state.write_text("ok\n")


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


def bootstrap(layout: Layout) -> dict[str, str]:
    """Create the sysadmin, the organizations, the editor and their API tokens (once)."""
    if layout.bootstrap_file.exists():
        return json.loads(layout.bootstrap_file.read_text())
    ckan = [str(layout.ckan_bin), "-c", str(layout.ini)]
    log("creating the sysadmin, organizations and editor")
    password = secrets.token_urlsafe(16)
    _run([*ckan, "user", "add", ADMIN_USER, f"email={ADMIN_USER}@example.invalid", f"password={password}"],
         what="ckan user add")
    _run([*ckan, "sysadmin", "add", ADMIN_USER], what="ckan sysadmin add")
    output = _run([*ckan, "user", "token", "add", ADMIN_USER, "ogd-pipeline"], what="ckan user token add")
    admin_token = output.strip().splitlines()[-1].strip()
    _api(layout, "user_create", {"name": EDITOR_USER, "email": f"{EDITOR_USER}@example.invalid",
                                 "password": secrets.token_urlsafe(16)}, admin_token)
    for name, title in ((ORG, ORG_TITLE), (OTHER_ORG, OTHER_ORG_TITLE)):
        _api(layout, "organization_create", {"name": name, "title": title}, admin_token)
    _api(layout, "organization_member_create", {"id": ORG, "username": EDITOR_USER, "role": "editor"}, admin_token)
    editor_token = _api(layout, "api_token_create", {"user": EDITOR_USER, "name": "ogd-pipeline"}, admin_token)["token"]
    state = {"admin_token": admin_token, "editor_token": editor_token, "admin_password": password}
    layout.bootstrap_file.write_text(json.dumps(state))
    layout.bootstrap_file.chmod(0o600)
    return state


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
    layout.env_file.write_text("\n".join(lines) + "\n")
    layout.env_file.chmod(0o600)


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
    ensure_system_packages()
    ensure_ckan_venv(layout)
    start_postgres(layout)
    start_redis(layout)
    start_search(layout)
    configure_ckan(layout)
    start_ckan(layout)
    state = bootstrap(layout)
    write_env(layout, state)
    log(f"ready in {time.time() - started:.0f} s")
    print(f"CKAN portal: {layout.url}  (credentials and tokens: {layout.env_file})")


def down(layout: Layout) -> bool:
    """Stop every process `up` started, by PID; return True when none remains."""
    stopped_all = True
    for service in SERVICES:
        pid = _service_pid(layout, service)
        if not pid or not _alive(pid):
            continue
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
        stopped_all &= not _alive(pid)
        if service != "postgres":
            layout.pidfile(service).unlink(missing_ok=True)
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
    parser = argparse.ArgumentParser(prog="python -m pipeline.portal.manage", description=__doc__.split("\n")[0])
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
