"""A build never deletes what it did not write, two builds of one output do not meet, its workers die
with it, and a full or read-only disk ends in a clear error (exit 8) with nothing half-written left."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers import copy_thaigov

import pipeline.package.files
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset
from pipeline.problems import OutputError
from pipeline.package.output import output_lock

from conftest import REPO  # noqa: E402


def ogd(*args: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    copy_thaigov(tmp_path / "releases", 4)
    return tmp_path / "releases"


@pytest.mark.parametrize("out", [".", "releases", "releases/thaigov", "releases/new/pkg", "link-to-releases",
                                 "releases/../releases"])
def test_an_output_that_is_holds_or_lies_inside_the_inputs_is_refused_even_with_force(
        releases: Path, tmp_path: Path, out: str) -> None:
    (tmp_path / "link-to-releases").symlink_to(releases)
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        result = ogd("build", "releases", "--out", out, "--name", "pkg", *extra, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "the inputs would be deleted" in result.stderr and str(releases) in result.stderr
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link-to-releases", "releases"]


def test_a_folder_with_files_of_its_own_is_replaced_only_with_force(releases: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("my notes\n")
    refused = ogd("build", str(releases), "--out", str(notes))
    assert refused.returncode == 2 and "--force" in refused.stderr and str(notes) in refused.stderr
    assert (notes / "notes.txt").read_text() == "my notes\n"
    forced = ogd("build", str(releases), "--out", str(notes), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (notes / "datapackage.json").is_file() and not (notes / "notes.txt").exists()


def test_a_previous_package_is_replaced_but_not_one_with_a_file_added_or_another_name(
        releases: Path, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    assert ogd("build", str(releases), "--out", str(out)).returncode == 0
    assert ogd("build", str(releases), "--out", str(out), "--full").returncode == 0  # the README's swap
    other_name = ogd("build", str(releases), "--out", str(out), "--name", "another")
    assert other_name.returncode == 2 and "not a package named 'another'" in other_name.stderr
    (out / "notes.txt").write_text("added by hand\n")
    refused = ogd("build", str(releases), "--out", str(out))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (out / "notes.txt").read_text() == "added by hand\n"


def test_an_output_that_is_a_file_is_refused_even_with_force(releases: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF-1.7")
    result = ogd("build", str(releases), "--out", str(target), "--name", "pkg", "--force")
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert target.read_bytes() == b"%PDF-1.7"


@pytest.mark.parametrize("suffix", [".failed", ".previous"])
def test_a_users_folder_named_like_the_builds_own_is_never_deleted(
        releases: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "pkg"
    mine = tmp_path / f"pkg{suffix}"
    mine.mkdir()
    (mine / "mine.txt").write_text("mine\n")
    # pkg is missing: recover() would have renamed pkg.previous to pkg, a failed build replaced pkg.failed.
    result = ogd("build", str(releases), "--out", str(out), "--max-quarantine-ratio", "0")
    assert result.returncode == 2 and str(mine) in result.stderr and "rename or move" in result.stderr
    assert snapshot(mine) == {"mine.txt": b"mine\n"} and not out.exists()


def test_inputs_inside_the_failed_folder_are_refused(releases: Path, tmp_path: Path) -> None:
    # Rebuilding from the quarantine of a rejected build: that build's next failure would replace it.
    inputs = tmp_path / "pkg.failed" / "quarantine" / "files"
    copy_thaigov(inputs, 2)
    result = ogd("build", str(inputs), "--out", str(tmp_path / "pkg"))
    assert result.returncode == 2 and "the inputs would be deleted" in result.stderr


def test_configured_outputs_are_checked_against_every_datasets_inputs(releases: Path, tmp_path: Path) -> None:
    config = tmp_path / "datasets.toml"
    text = (REPO / "datasets.toml").read_text(encoding="utf-8")
    # The repository's two datasets, both reading ./releases.
    config.write_text(text.replace('inputs = ["samples/prd"]', 'inputs = ["releases"]')
                      .replace('inputs = ["samples/thaigov"]', 'inputs = ["releases"]')
                      .replace('source = "prd"', 'source = "thaigov"'), encoding="utf-8")
    before = snapshot(releases)
    # Two datasets into --out: out/NAME each, outside the inputs.
    assert ogd("build", "--config", str(config), "--all", "--out", str(tmp_path / "out")).returncode == 0
    result = ogd("build", "--config", str(config), "--dataset", "prd-releases-sample", "--out", str(tmp_path))
    assert result.returncode == 2 and "the inputs would be deleted" in result.stderr
    assert snapshot(releases) == before


def test_a_staging_folder_the_build_did_not_write_is_kept(releases: Path, tmp_path: Path) -> None:
    mine = tmp_path / ".pkg.building-999999"
    mine.mkdir()
    (mine / "thesis.tex").write_text("\\documentclass{article}\n")
    stale = tmp_path / ".pkg.building-999998"
    (stale / "data").mkdir(parents=True)
    assert ogd("build", str(releases), "--out", str(tmp_path / "pkg")).returncode == 0
    assert (mine / "thesis.tex").is_file() and not stale.exists()


# --------------------------------------------------------------------------- the lock


def test_a_second_build_of_the_same_output_is_refused_and_spares_the_firsts_staging(
        releases: Path, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    staging = tmp_path / ".pkg.building-424242"  # the staging folder of the build holding the lock
    (staging / "data").mkdir(parents=True)
    with output_lock(out):
        result = ogd("build", str(releases), "--out", str(out))
    assert result.returncode == 7, result.stderr
    assert f"pid {os.getpid()}" in result.stderr and str(out) in result.stderr and "--wait" in result.stderr
    assert staging.is_dir() and not out.exists()


def test_a_planted_lock_link_is_refused_as_a_link_and_its_target_untouched(releases: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("someone's file\n", encoding="utf-8")
    (tmp_path / ".pkg.lock").symlink_to(victim)
    result = ogd("build", str(releases), "--out", str(tmp_path / "pkg"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / '.pkg.lock'} is a symbolic link (to '{victim}')" in result.stderr
    assert "permission" not in result.stderr.lower()
    assert victim.read_text(encoding="utf-8") == "someone's file\n" and not (tmp_path / "pkg").exists()


def _waiting_for_lock(pid: int) -> bool:
    """Whether ``pid`` is blocked on a flock (``/proc/locks`` lists waiters with ``->``)."""
    return any(line.split()[1] == "->" and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines() if len(line.split()) > 5)


def test_wait_waits_for_the_other_build(releases: Path, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    with output_lock(out):
        waiting = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "build", str(releases), "--out", str(out),
                                    "--wait"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(600):  # bounded: at most about a minute
            if _waiting_for_lock(waiting.pid) or waiting.poll() is not None:
                break
            time.sleep(0.1)
        assert waiting.poll() is None and _waiting_for_lock(waiting.pid)
    _, stderr = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, stderr
    assert (out / "datapackage.json").is_file()


# --------------------------------------------------------------------------- workers


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not yet reaped by its new parent


def test_workers_die_with_a_killed_build(tmp_path: Path) -> None:
    copy_thaigov(tmp_path / "in", 200, step=7)
    build = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "build", str(tmp_path / "in"), "--out",
                              str(tmp_path / "pkg"), "--workers", "2", "-q"], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers: list[int] = []
        for _ in range(1200):  # bounded: at most about two minutes
            workers = _children(build.pid)
            if len(workers) >= 2 or build.poll() is not None:
                break
            time.sleep(0.1)
        assert len(workers) >= 2, "the build ended before its workers were seen"
        build.kill()
        build.wait(timeout=60)
        for _ in range(200):  # bounded: at most about twenty seconds
            if not any(_alive(pid) for pid in workers):
                break
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their build"
    finally:
        build.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- full and read-only disks


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` at ``folder``; yields False where mounting is not permitted (not root, no
    CAP_SYS_ADMIN), and the test injects the error instead."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_exits_8_and_leaves_no_staging_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_thaigov(tmp_path / "few", 2)
    copy_thaigov(tmp_path / "many", 120, step=9)
    disk = tmp_path / "disk"
    with small_disk(disk, "400k") as mounted:
        out = disk / "pkg"
        assert ogd("build", str(tmp_path / "few"), "--out", str(out), "--name", "pkg").returncode == 0
        before = snapshot(out)
        if mounted:
            result = ogd("build", str(tmp_path / "many"), "--out", str(out), "--name", "pkg")
            assert result.returncode == 8, result.stderr
            message = result.stderr
        else:
            real_write = pipeline.package.files.HashingFile.write

            def full(self, data):  # noqa: ANN001, ANN202
                if self.size > 100_000:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), None)
                return real_write(self, data)

            monkeypatch.setattr(pipeline.package.files.HashingFile, "write", full)
            with pytest.raises(OutputError) as raised:
                build_dataset(ad_hoc_dataset("pkg", [tmp_path / "many"], "auto", 0.05), out)
            message = raised.value.message + "\nhint: " + (raised.value.hint or "")
        assert "disk holding it is full" in message and "ENOSPC" in message and str(out) in message
        assert "free some space" in message
        assert snapshot(out) == before
        assert sorted(p.name for p in disk.iterdir()) == [".pkg.inputs.json", ".pkg.lock", "pkg"]


def test_a_read_only_output_exits_8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_thaigov(tmp_path / "in", 2)
    disk = tmp_path / "disk"
    with small_disk(disk, "4m") as mounted:
        out = disk / "pkg"
        assert ogd("build", str(tmp_path / "in"), "--out", str(out)).returncode == 0
        before = snapshot(out)
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            results = [ogd("build", str(tmp_path / "in"), "--out", str(out), "--full"),
                       ogd("build", str(tmp_path / "in"), "--out", str(disk / "new" / "pkg"))]
            for result in results:
                assert result.returncode == 8, result.stderr
                assert "read-only file system" in result.stderr and "EROFS" in result.stderr
                assert "writable file system" in result.stderr
        else:
            def read_only(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(disk / ".pkg.lock"))

            monkeypatch.setattr(pipeline.package.files.os, "open", read_only)
            with pytest.raises(OutputError) as raised:
                build_dataset(ad_hoc_dataset("pkg", [tmp_path / "in"], "auto", 0.05), out)
            assert "read-only file system" in raised.value.message
        assert snapshot(out) == before


def test_an_input_given_as_a_file_url_is_never_replaced_by_the_output(tmp_path: Path) -> None:
    # file:///path is the local path /path (README: Inputs): the output check knows it by either name.
    import subprocess
    import sys

    from conftest import REPO

    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in sorted((REPO / "samples" / "prd").glob("*.txt")):
        (inputs / path.name).write_bytes(path.read_bytes())
    before = sorted(p.name for p in inputs.iterdir())
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "build", f"file://{inputs}", "--out", str(inputs),
                           "--force", "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and f"the output {inputs} is the input {inputs}" in done.stderr
    assert sorted(p.name for p in inputs.iterdir()) == before
