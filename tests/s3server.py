"""An S3-compatible server for the tests: moto's server mode (``moto_server``, from moto[server]) on 127.0.0.1.

Credentials are dummies; the secret is a value no test output may contain.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "ogd-test-access-key"
SECRET_KEY = "ogd-test-secret-0f3a9c"  # never to be printed or written anywhere


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen

    def env(self) -> dict[str, str]:
        """The environment a process reading s3:// needs (as a real deployment gives it: fsspec's and AWS's)."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": self.endpoint}

    def filesystem(self):  # an s3fs of its own (explicit options): the tests' uploads
        import s3fs

        return s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=self.endpoint,
                                 skip_instance_cache=True)

    def upload(self, folder: Path, prefix: str) -> int:
        """Every file under ``folder`` to ``s3://prefix/`` with the same relative paths; their number."""
        fs = self.filesystem()
        bucket = prefix.split("/", 1)[0]
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        count = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                fs.pipe_file(f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}", path.read_bytes())
                count += 1
        return count


def start_s3_server() -> S3Server:
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/", timeout=2):
                break
        except urllib.error.HTTPError:  # it answers
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not start on {endpoint}")
            time.sleep(0.2)
    return S3Server(endpoint, process)


def stop_s3_server(server: S3Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
