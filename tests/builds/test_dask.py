"""Builds on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1, started here.

The package a cluster builds is the bytes a local build writes: for the whole
shared thaigov corpus, when a worker is killed mid-build, and from inputs on an
S3 server whose bytes never pass through the scheduler.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, THAIGOV_CORPUS
from helpers import copy_thaigov
from s3server import S3Server, free_port, start_s3_server, stop_s3_server

import fsspec

from pipeline.build.cluster import connect
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset
from pipeline.extract.discover import InputFile

DASK = Path(sys.executable).parent / "dask"
COMPARED = ("data/releases.csv", "data/releases.parquet", "data/releases-excel.csv", "data/changes.csv",
            "quarantine.jsonl", "CHANGELOG.md")


@dataclass
class Cluster:
    address: str
    dashboard: str
    env: dict[str, str]
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen:
        worker = subprocess.Popen(
            [str(DASK), "worker", self.address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
             "--no-dashboard", "--preload", "pipeline.build.cluster", "--memory-limit", "0"],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers.append(worker)
        return worker

    def alive(self) -> list[subprocess.Popen]:
        return [worker for worker in self.workers if worker.poll() is None]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def s3() -> S3Server:
    server = start_s3_server()
    yield server
    stop_s3_server(server)


@pytest.fixture(scope="module")
def cluster(s3: S3Server) -> Cluster:
    """A scheduler (its dashboard on a free port) and two single-thread workers, each a process of its own; the
    workers read S3 with the credentials of their environment (as a cluster's workers would)."""
    port, dashboard_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "FSSPEC_", "DASK_"))}
    env.update(s3.env())
    env["PYTHONPATH"] = str(REPO)
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", f"127.0.0.1:{dashboard_port}"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = Cluster(f"tcp://127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}/status", env, scheduler)
    try:
        for _ in range(2):
            running.start_worker()
        _wait_for_workers(running, 2)
        yield running
    finally:
        for worker in running.workers:
            _stop(worker)
        _stop(scheduler)


def _wait_for_workers(cluster: Cluster, count: int) -> None:
    from distributed import Client

    with Client(cluster.address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=120)


def data_files(package: Path) -> dict[str, bytes]:
    return {name: (package / name).read_bytes() for name in COMPARED if (package / name).exists()}


def descriptor_without_timings(package: Path) -> str:
    return (package / "datapackage.json").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_whole_thaigov_corpus_built_on_the_cluster_is_the_local_build(cluster: Cluster, tmp_path: Path) -> None:
    dataset = ad_hoc_dataset("thaigov", [THAIGOV_CORPUS], "thaigov", 1.0)
    local = build_dataset(dataset, tmp_path / "local" / "thaigov", workers=2, incremental=False)
    with connect(cluster.address) as pool:
        assert pool.width == 2
        on_cluster = build_dataset(dataset, tmp_path / "cluster" / "thaigov", pool=pool, incremental=False)
        carried = pool.scheduler_bytes()
    assert local.ok and on_cluster.ok
    assert on_cluster.counts == local.counts and on_cluster.counts["inputs"] == 3000
    assert data_files(tmp_path / "cluster" / "thaigov") == data_files(tmp_path / "local" / "thaigov")
    assert set(data_files(tmp_path / "local" / "thaigov")) == set(COMPARED)
    # The descriptor holds no timing: the same file (the report's timings differ, as between any two builds).
    assert (descriptor_without_timings(tmp_path / "cluster" / "thaigov")
            == descriptor_without_timings(tmp_path / "local" / "thaigov"))
    # Task specs are names of inputs, not their bytes: far less than the corpus' 3000 files' bytes went to the
    # scheduler (results come from the workers directly).
    corpus_bytes = sum(path.stat().st_size for path in THAIGOV_CORPUS.rglob("*") if path.is_file())
    assert carried["to_scheduler"] < corpus_bytes / 10
    assert carried["from_scheduler"] < corpus_bytes / 10


def test_a_worker_killed_mid_build_has_its_tasks_run_again_and_the_package_is_the_same(
        cluster: Cluster, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 600, step=3)
    dataset = ad_hoc_dataset("kill", [inputs], "thaigov", 1.0)
    local = build_dataset(dataset, tmp_path / "local" / "kill", workers=2, incremental=False)
    victim = cluster.alive()[0]
    killed_at: list[int] = []

    def kill_after_some(done: int, total: int) -> None:
        # Chunks of the victim are running or queued now: a window of 8 chunks of 32 inputs is in flight.
        if done == 100 and not killed_at:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at.append(done)

    try:
        with connect(cluster.address) as pool:
            on_cluster = build_dataset(dataset, tmp_path / "cluster" / "kill", pool=pool, incremental=False,
                                       progress=kill_after_some)
            survivors = len(pool.client.scheduler_info(n_workers=-1)["workers"])
    finally:
        cluster.start_worker()  # the next tests have two workers again
        _wait_for_workers(cluster, 2)
    assert killed_at == [100] and survivors == 1
    assert local.ok and on_cluster.ok and on_cluster.counts["records"] > 500
    assert data_files(tmp_path / "cluster" / "kill") == data_files(tmp_path / "local" / "kill")


def test_inputs_on_s3_are_read_by_the_workers_and_their_bytes_never_pass_the_scheduler(
        cluster: Cluster, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    files = copy_thaigov(folder, 200, step=13)
    assert s3.upload(folder, "cluster-inputs/news") == 200
    # The client lists the bucket with the same credentials (from the environment).
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3.endpoint})
    # A headline of every input: bytes that would show in a task spec if a file's contents travelled with it.
    headlines = [path.read_text(encoding="utf-8").split("\n", 1)[0].encode("utf-8") for path in files]
    assert all(len(headline) > 40 for headline in headlines)
    seen: list[tuple[int, bool, bool]] = []

    with connect(cluster.address) as pool:
        client = pool.client

        def look_at_the_tasks(done: int, total: int) -> None:
            if done in (1, 60, 120):
                def specs(dask_scheduler) -> list[bytes]:  # runs on the scheduler: what it holds per task
                    import pickle

                    return [pickle.dumps(task.run_spec) for task in dask_scheduler.tasks.values()
                            if task.run_spec is not None]

                for blob in client.run_on_scheduler(specs):
                    seen.append((len(blob), InputFile.__name__.encode() in blob,
                                 any(headline in blob for headline in headlines)))

        remote = build_dataset(ad_hoc_dataset("news", ["s3://cluster-inputs/news/"], "thaigov", 1.0),
                               tmp_path / "remote" / "news", pool=pool, incremental=False,
                               progress=look_at_the_tasks)
        carried = pool.scheduler_bytes()
    local = build_dataset(ad_hoc_dataset("news", [folder], "thaigov", 1.0), tmp_path / "local" / "news",
                          workers=2, incremental=False)
    assert remote.ok and remote.counts["records"] == local.counts["records"] > 190
    assert data_files(tmp_path / "remote" / "news") == data_files(tmp_path / "local" / "news")
    assert seen, "the scheduler held tasks while the build ran"
    assert all(has_inputs for _, has_inputs, _ in seen), "every task names its inputs (InputFile objects)"
    assert not any(has_text for _, _, has_text in seen), "no task carries an input's text"
    assert max(size for size, _, _ in seen) < 32 * 1000  # a chunk of 32 names, not 32 releases
    input_bytes = sum(path.stat().st_size for path in files)
    assert carried["to_scheduler"] < input_bytes / 10


def test_an_unreachable_scheduler_is_exit_10_and_nothing_is_built(tmp_path: Path) -> None:
    copy_thaigov(tmp_path / "in", 3)
    address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                             str(tmp_path / "pkg"), "--executor", "dask", "--scheduler", address],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OGD_DASK_TIMEOUT": "2"})
    assert result.returncode == 10, result.stderr
    assert f"error: the Dask scheduler {address} could not be reached within 2 s" in result.stderr
    assert "hint: start the scheduler (dask scheduler) and its workers" in result.stderr
    assert not (tmp_path / "pkg").exists()


def test_the_dask_executor_needs_a_scheduler_address(tmp_path: Path) -> None:
    copy_thaigov(tmp_path / "in", 3)
    env = {key: value for key, value in os.environ.items() if key != "OGD_DASK_SCHEDULER"}
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                             str(tmp_path / "pkg"), "--executor", "dask"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert "--executor dask needs the scheduler's address: --scheduler tcp://HOST:8786" in result.stderr


def test_the_cli_builds_on_the_cluster_named_by_the_environment_and_prints_its_dashboard(
        cluster: Cluster, tmp_path: Path) -> None:
    copy_thaigov(tmp_path / "in", 40, step=71)
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                             str(tmp_path / "pkg"), "--executor", "dask", "--source", "thaigov"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OGD_DASK_SCHEDULER": cluster.address})
    assert result.returncode == 0, result.stderr
    assert f"cluster {cluster.address}: 2 worker threads; dashboard {cluster.dashboard}" in result.stderr
    assert "pkg: ok: 40 records" in result.stderr


def test_ctrl_c_stops_a_cluster_build_and_its_tasks(cluster: Cluster, tmp_path: Path) -> None:
    from distributed import Client

    # The whole corpus: the build must still be running when the signal comes, on a busy CI machine too (600
    # inputs were once all built between the scheduler's first task and the signal).
    copy_thaigov(tmp_path / "in", 3000, step=1)
    build = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                              str(tmp_path / "pkg"), "--executor", "dask", "--scheduler", cluster.address,
                              "--source", "thaigov"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True,
                             # A suite started in the background (`make test &`) ignores SIGINT, and a child
                             # inherits that: the build must get Ctrl-C as a terminal gives it.
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def tasks(dask_scheduler) -> int:  # runs on the scheduler
        return len(dask_scheduler.tasks)

    with Client(cluster.address, timeout=60, set_as_default=False) as observer:
        deadline = time.time() + 120
        while observer.run_on_scheduler(tasks) == 0:  # the build's first chunks are on the cluster
            assert build.poll() is None and time.time() < deadline, "the build never submitted a task"
            time.sleep(0.05)
        build.send_signal(signal.SIGINT)
        _, stderr = build.communicate(timeout=60)
        deadline = time.time() + 30
        while observer.run_on_scheduler(tasks) and time.time() < deadline:
            time.sleep(0.1)
        left = observer.run_on_scheduler(tasks)
    assert build.returncode == 130, stderr
    assert left == 0, "the build's tasks were cancelled"
    assert not (tmp_path / "pkg").exists()
    assert not [path.name for path in tmp_path.iterdir() if ".building-" in path.name], "no staging folder is left"


def test_a_scheduler_lost_mid_build_is_exit_10_and_the_previous_package_stays(tmp_path: Path) -> None:
    # A cluster of its own (the module's is shared): a scheduler and one worker; the scheduler is killed once
    # the build's first tasks run.
    from distributed import Client

    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "FSSPEC_", "DASK_"))}
    env.update(PYTHONPATH=str(REPO), OGD_DASK_TIMEOUT="5")
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", f"127.0.0.1:{free_port()}"],
                                 cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lost = Cluster(f"tcp://127.0.0.1:{port}", "", env, scheduler)
    try:
        lost.start_worker()
        _wait_for_workers(lost, 1)
        copy_thaigov(tmp_path / "in", 3000, step=1)
        build = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                                  str(tmp_path / "pkg"), "--executor", "dask", "--scheduler", lost.address,
                                  "--source", "thaigov"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        with Client(lost.address, timeout=60, set_as_default=False) as observer:
            deadline = time.time() + 120
            while observer.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0:
                assert build.poll() is None and time.time() < deadline, "the build never submitted a task"
                time.sleep(0.05)
        scheduler.kill()
        _, stderr = build.communicate(timeout=180)
    finally:
        for process in (*lost.workers, scheduler):
            _stop(process)
    assert build.returncode == 10, stderr
    assert f"error: the connection to the Dask scheduler {lost.address} was lost mid-build" in stderr
    assert not (tmp_path / "pkg").exists()
    assert not [path.name for path in tmp_path.iterdir() if ".building-" in path.name], "no staging folder is left"
