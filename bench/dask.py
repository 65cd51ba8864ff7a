"""A build on a local two-worker Dask cluster against the process pool (``make bench``).

Starts ``dask scheduler`` and two ``dask worker --nthreads 1`` processes on
127.0.0.1 (the README's way: ``--preload pipeline.build.cluster``), then builds
the same corpus (default: the shared thaigov corpus, 3,000 releases) with the
local process pool (``--workers 2``) and on the cluster, alternately, each
build in a fresh client process. Measures per build: wall time and releases/s
(the ratio cluster/local: goal >= 0.85), the client's peak memory (PSS; for the
local build also the whole process tree), the bytes of the client's stream to
the scheduler and back (task specs and key updates; results come from the
workers directly), the CPU seconds of the workers and of the client per
release (the README's sizing table). The packages are compared byte for byte.
Prints a table; JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is sys.path[0], and this file would stand in for the dask package: bench/ goes last.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))

from run import TreeRSS  # noqa: E402 — bench/run.py's sampler: PSS of a process (and its descendants)

SHARED = Path(os.environ.get("OGD_SHARED", REPO.parent / "shared"))
DASK = Path(sys.executable).parent / "dask"
COMPARED = ("data/releases.csv", "data/releases.parquet", "quarantine.jsonl")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client(kind: str, corpus: str, out: str, scheduler: str | None) -> None:
    """One build in this process (the client), as ``ogd build`` runs it; prints its measures as JSON."""
    import resource

    from pipeline.build.run import build_dataset
    from pipeline.config import ad_hoc_dataset

    dataset = ad_hoc_dataset("bench", [Path(corpus)], "thaigov", 1.0)

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    # The client's CPU from the first input written to the last: its cost per release, without start-up.
    marks: dict[int, float] = {}

    def progress(done: int, total: int) -> None:
        if done in (1, total):
            marks[done] = cpu()

    started = time.time()
    if kind == "local":
        result = build_dataset(dataset, Path(out), workers=2, incremental=False, progress=progress)
        carried: dict[str, int] = {}
    else:
        from pipeline.build.cluster import connect

        assert scheduler is not None
        with connect(scheduler) as pool:
            result = build_dataset(dataset, Path(out), pool=pool, incremental=False, progress=progress)
            carried = pool.scheduler_bytes()
    seconds = time.time() - started
    inputs = result.counts["inputs"]
    print(json.dumps({"seconds": seconds, "ok": result.ok, "records": result.counts["records"], "inputs": inputs,
                      "client_cpu_seconds_per_input": (marks[inputs] - marks[1]) / (inputs - 1), **carried}))


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def measured(kind: str, corpus: Path, out: Path, scheduler: str | None, workers: list[int]) -> dict[str, Any]:
    worker_cpu = cpu_seconds(workers) if workers else 0.0
    process = subprocess.Popen([sys.executable, __file__, "--client", kind, str(corpus), str(out),
                                scheduler or ""], cwd=REPO, stdout=subprocess.PIPE, text=True)
    client_memory = TreeRSS(process.pid)
    stdout, _ = process.communicate()
    client_memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"the {kind} build failed (exit {process.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["releases_per_second"] = result["records"] / result["seconds"]
    # For the local build the tree is the client and its worker processes; for the cluster only the client.
    result["client_tree_peak_mb"] = round(client_memory.peak / 2**20, 1)
    if workers:
        result["workers_cpu_seconds"] = cpu_seconds(workers) - worker_cpu
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus" / "thaigov")
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "dask")
    parser.add_argument("--rounds", type=int, default=2, help="builds of each kind, alternating (best counts)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "dask.json")
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        kind, corpus, out, scheduler = args.client
        client(kind, corpus, out, scheduler or None)
        return

    port, dashboard = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": REPO, "env": env}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", f"127.0.0.1:{dashboard}"], **quiet)
    workers = [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--host",
                                 "127.0.0.1", "--no-dashboard", "--preload", "pipeline.build.cluster"], **quiet)
               for _ in range(2)]
    try:
        from distributed import Client

        with Client(address, timeout=60, set_as_default=False) as probe:
            probe.wait_for_workers(2, timeout=120)
        args.workdir.mkdir(parents=True, exist_ok=True)
        runs: dict[str, list[dict[str, Any]]] = {"local": [], "dask": []}
        for round_ in range(args.rounds):
            for kind in ("local", "dask"):
                out = args.workdir / f"{kind}-{round_}"
                runs[kind].append(measured(kind, args.corpus, out, address if kind == "dask" else None,
                                           [w.pid for w in workers] if kind == "dask" else []))
                print(f"{kind} round {round_ + 1}: {runs[kind][-1]['seconds']:.1f} s", file=sys.stderr)
        same = all((args.workdir / f"local-{r}" / name).read_bytes() == (args.workdir / f"dask-{r}" / name).read_bytes()
                   for r in range(args.rounds) for name in COMPARED)
    finally:
        for process in [*workers, scheduler]:  # the workers first: they say goodbye to their scheduler
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    local = min(runs["local"], key=lambda run: run["seconds"])
    dask = min(runs["dask"], key=lambda run: run["seconds"])
    records = dask["records"]
    worker_cpu_per_release = min(run["workers_cpu_seconds"] for run in runs["dask"]) / records
    client_cpu_per_release = min(run["client_cpu_seconds_per_input"] for run in runs["dask"])
    corpus_bytes = sum(path.stat().st_size for path in args.corpus.rglob("*") if path.is_file())
    summary = {
        "measured_at": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "corpus": str(args.corpus),
        "inputs": dask["inputs"], "records": records, "corpus_bytes": corpus_bytes, "same_bytes": same,
        "local_seconds": round(local["seconds"], 2), "dask_seconds": round(dask["seconds"], 2),
        "local_releases_per_second": round(local["releases_per_second"], 1),
        "dask_releases_per_second": round(dask["releases_per_second"], 1),
        "throughput_ratio": round(dask["releases_per_second"] / local["releases_per_second"], 3),
        "local_tree_peak_mb": local["client_tree_peak_mb"], "dask_client_peak_mb": dask["client_tree_peak_mb"],
        "bytes_to_scheduler": dask["to_scheduler"], "bytes_from_scheduler": dask["from_scheduler"],
        "bytes_to_scheduler_per_input": round(dask["to_scheduler"] / dask["inputs"], 1),
        "worker_cpu_ms_per_release": round(1000 * worker_cpu_per_release, 2),
        "client_cpu_ms_per_release": round(1000 * client_cpu_per_release, 2),
        "runs": runs,
    }
    rows = [
        ("releases", f"{records} of {dask['inputs']} inputs ({corpus_bytes / 2**20:.1f} MiB)"),
        ("local pool (2 processes)", f"{local['seconds']:.1f} s, {local['releases_per_second']:.0f} releases/s"),
        ("Dask (2 workers x 1 thread)", f"{dask['seconds']:.1f} s, {dask['releases_per_second']:.0f} releases/s"),
        ("throughput ratio dask/local", f"{summary['throughput_ratio']:.2f} (goal >= 0.85)"),
        ("same bytes", str(same)),
        ("client memory (PSS peak)", f"dask client {dask['client_tree_peak_mb']} MB; local build and its "
                                      f"workers {local['client_tree_peak_mb']} MB"),
        ("through the scheduler", f"{dask['to_scheduler']} B to it, {dask['from_scheduler']} B back "
                                  f"({summary['bytes_to_scheduler_per_input']} B per input; the corpus is "
                                  f"{corpus_bytes} B)"),
        ("CPU per release", f"workers {summary['worker_cpu_ms_per_release']} ms, client "
                            f"{summary['client_cpu_ms_per_release']} ms per input written"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
