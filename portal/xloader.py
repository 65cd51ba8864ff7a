"""A second CKAN server of the local portal's installation and database that runs ckanext-xloader, as data.go.th
and most agency catalogs do: every CSV file uploaded is loaded into the DataStore by the portal itself (a job that
PostgreSQL-COPYs the file), in an RQ jobs worker beside the web server.

Used by the tests of publishing to such a portal and by the publish benchmark (xloader's COPY side by side with
the DataStore API). It shares the local portal's PostgreSQL, Redis and search stand-in (``make portal`` must be
running); its own configuration file (mode 600: it holds the database passwords and the token xloader downloads
private files with), xloader's jobs database (which keeps that token in each job's row) and the logs are in a
folder the caller gives; the configuration and the jobs database are deleted when the server stops.

    with xloader_portal(folder, port) as portal:
        ...  # CKAN at portal.url, with xloader and its worker (portal.stop_worker(), portal.start_worker())
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from .manage import REPO_ROOT, PortalError, write_private

PORTAL_DIR = Path(os.environ.get("OGD_PORTAL_DIR", REPO_ROOT / ".portal"))
PLUGINS = "activity datastore xloader datatables_view text_view ogd_portal scheming_datasets"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/action/status_show", timeout=5) as response:
            return "xloader" in json.load(response)["result"]["extensions"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def xloader_settings(ini: str, *, port: int, token: str, jobs_db: Path) -> str:
    """The local portal's ckan.ini with xloader among the plugins, this server's address, and xloader's settings."""
    ini = re.sub(r"(?m)^ckan\.plugins\s*=.*$", f"ckan.plugins = {PLUGINS}", ini)
    ini = re.sub(r"(?m)^ckan\.site_url\s*=.*$", f"ckan.site_url = http://127.0.0.1:{port}", ini)
    settings = {
        "ckanext.xloader.api_token": token,  # xloader downloads a private dataset's file with it
        "ckanext.xloader.jobs_db.uri": f"sqlite:///{jobs_db}",
        "ckanext.xloader.site_url": f"http://127.0.0.1:{port}",
    }
    lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
    return ini.replace("[app:main]\n", f"[app:main]\n{lines}", 1)


class XloaderPortal:
    """A running CKAN with xloader: its URL, and its jobs worker (stopped and started again by tests of a portal
    whose loads do not run)."""

    def __init__(self, url: str, start: Callable[[list[str], str], subprocess.Popen[bytes]]) -> None:
        self.url = url
        self._start = start
        self.worker: subprocess.Popen[bytes] | None = None

    def start_worker(self) -> None:
        if self.worker is None or self.worker.poll() is not None:
            self.worker = self._start(["jobs", "worker"], "worker.log")

    def stop_worker(self) -> None:
        if self.worker is not None:
            _stop(self.worker)
            self.worker = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def xloader_portal(folder: Path, port: int, *, timeout: float = 180) -> Iterator[XloaderPortal]:
    """Run CKAN with xloader on 127.0.0.1:``port`` and the jobs worker that runs its loads; yield them; stop both
    afterwards."""
    env_file = PORTAL_DIR / "env"
    if not (PORTAL_DIR / "ckan.ini").exists() or not env_file.exists():
        raise PortalError(f"no local portal in {PORTAL_DIR}: run `make portal` first")
    token = next(line.split("=", 1)[1].strip() for line in env_file.read_text(encoding="utf-8").splitlines()
                 if line.startswith("CKAN_API_TOKEN="))
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "ckan.ini"
    write_private(config, xloader_settings((PORTAL_DIR / "ckan.ini").read_text(encoding="utf-8"), port=port,
                                           token=token, jobs_db=folder / "xloader-jobs.db"))
    ckan = str(PORTAL_DIR / "venv" / "bin" / "ckan")
    processes: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(folder / log, "ab") as output:
            process = subprocess.Popen([ckan, "-c", str(config), *args], cwd=folder, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(process)
        return process

    url = f"http://127.0.0.1:{port}"
    try:
        server = start(["run", "-H", "127.0.0.1", "-p", str(port), "--disable-reloader", "--threaded"], "ckan.log")
        deadline = time.time() + timeout
        while not _answers(url):
            if server.poll() is not None or time.time() > deadline:
                raise PortalError(f"CKAN with xloader did not start on {url}; see {folder / 'ckan.log'}:\n"
                                  + (folder / "ckan.log").read_text(errors="replace")[-2000:])
            time.sleep(0.5)
        running = XloaderPortal(url, start)
        running.start_worker()
        yield running
    finally:
        for process in processes:
            if process.poll() is None:
                _stop(process)
        # Both hold the sysadmin token (xloader keeps it in each job's row): not left in the caller's folder.
        for secret in (config, folder / "xloader-jobs.db"):
            secret.unlink(missing_ok=True)
