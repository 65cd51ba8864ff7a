"""Inputs an attacker or a careless user leaves in the input folders: links out of them, loops, FIFOs,
names that are not UTF-8, folders the build cannot list, paths over the system's limit, UTF-16 without
a byte-order mark, huge files. None stops the build; each is accounted for with its own reason."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import copy_thaigov, read_quarantine, read_rows, thaigov_files

import pipeline.package.writer
from pipeline.extract import decode, discover
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset, load_config

from conftest import REPO  # noqa: E402


def ogd(*args: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def report_of(package: Path) -> dict:
    return json.loads((package / "report.json").read_text(encoding="utf-8"))


def all_bytes(package: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(package.rglob("*")) if path.is_file())


def test_a_link_out_of_the_inputs_is_quarantined_and_its_target_never_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 4)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_bytes(b"root:$6$not-for-the-package$:19000:0:99999:7:::\n")
    secret.chmod(0o600)
    release = outside / "release.txt"
    shutil.copyfile(thaigov_files(9, step=53)[-1], release)  # a real release: it would become a row
    (inputs / "shadow.txt").symlink_to(secret)
    (inputs / "release.txt").symlink_to(release)
    (inputs / "up.txt").symlink_to(Path("..") / "outside" / "release.txt")  # relative, with ..
    opened: list[str] = []
    real_open_regular = decode.open_regular

    def spying_open(path: str) -> int:
        opened.append(os.path.realpath(path))
        return real_open_regular(path)

    monkeypatch.setattr(decode, "open_regular", spying_open)
    monkeypatch.setattr(pipeline.package.writer, "open_regular", spying_open)  # the quarantine copy opens it too
    result = build_dataset(ad_hoc_dataset("links", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    assert result.ok
    entries = {entry["path"]: entry for entry in read_quarantine(tmp_path / "pkg")}
    assert {path: entry["reason"] for path, entry in entries.items()} == {
        "shadow.txt": "symlink-outside-root", "release.txt": "symlink-outside-root", "up.txt": "symlink-outside-root"}
    assert entries["shadow.txt"]["details"]["target"] == str(secret)
    assert "not read" in entries["shadow.txt"]["message"]
    assert all("kept_copy" not in entry for entry in entries.values())
    assert str(secret) not in opened and str(release) not in opened
    rows, _ = read_rows(tmp_path / "pkg")
    assert sorted(row["source_file"] for row in rows) == sorted(
        p.relative_to(inputs).as_posix() for p in (inputs / "thaigov").rglob("*.txt"))
    assert b"not-for-the-package" not in all_bytes(tmp_path / "pkg")
    assert result.counts["inputs"] == 7 and result.counts["quarantined"] == 3


def test_a_link_out_of_the_inputs_says_whether_it_points_to_a_file_or_a_folder(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "notes.txt").write_text("private\n", encoding="utf-8")
    (inputs / "to-folder").symlink_to(tmp_path / "outside")
    (inputs / "to-file.txt").symlink_to(tmp_path / "outside" / "notes.txt")
    build_dataset(ad_hoc_dataset("kinds", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    entries = {entry["path"]: entry for entry in read_quarantine(tmp_path / "pkg")}
    assert entries["to-folder"]["message"].startswith("a symbolic link to a folder outside the input folders")
    assert entries["to-folder"]["details"]["target_kind"] == "folder"
    assert entries["to-file.txt"]["message"].startswith("a symbolic link to a file outside the input folders")
    assert entries["to-file.txt"]["details"]["target_kind"] == "file"


def test_a_link_to_a_file_inside_the_inputs_is_read(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    files = copy_thaigov(inputs, 3)
    (inputs / "zz_alias.txt").symlink_to(files[0])  # sorts after the file it links to
    result = build_dataset(ad_hoc_dataset("inside", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    assert result.ok and result.counts["records"] == 3
    # Read, and found to be the same release as the file it links to.
    assert [(e["path"], e["reason"]) for e in read_quarantine(tmp_path / "pkg")] == [("zz_alias.txt", "duplicate")]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_a_quarantined_inputs_copy_is_never_more_readable_than_the_input(tmp_path: Path, mode: int) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 2)
    private = inputs / "private-notes.txt"
    private.write_text("a personal note, not a release\n", encoding="utf-8")
    private.chmod(mode)
    build_dataset(ad_hoc_dataset("modes", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    (entry,) = read_quarantine(tmp_path / "pkg")
    assert entry["reason"] == "unknown-format"
    copy_mode = stat.S_IMODE((tmp_path / "pkg" / entry["kept_copy"]).stat().st_mode)
    assert copy_mode & ~mode == 0, f"copy {copy_mode:o} is wider than the input {mode:o}"


def test_loops_dangling_links_fifos_sockets_and_hidden_entries_are_listed_as_skipped(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    (inputs / "loop_a").symlink_to("loop_b")
    (inputs / "loop_b").symlink_to("loop_a")
    (inputs / "self").symlink_to("self")
    (inputs / "dangling.txt").symlink_to("gone.txt")
    os.mkfifo(inputs / "pipe.txt")  # opening it would block the build for ever
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(inputs / "sock"))
    (inputs / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (inputs / ".git").mkdir()
    (inputs / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (inputs / "linked-folder").symlink_to(inputs / "thaigov")
    try:
        result = ogd("build", str(inputs), "--out", str(tmp_path / "pkg"), "--json", timeout=120)
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    report = report_of(tmp_path / "pkg")
    assert {(entry["path"], entry["reason"]) for entry in report["skipped"]} == {
        ("loop_a", "symlink-loop"), ("loop_b", "symlink-loop"), ("self", "symlink-loop"),
        ("dangling.txt", "dangling-symlink"), ("pipe.txt", "fifo"), ("sock", "socket"),
        (".DS_Store", "hidden"), (".git", "hidden"), ("linked-folder", "linked-folder"),
    }
    assert all(entry["why"] for entry in report["skipped"])
    assert report["counts"]["skipped"] == 9 and report["counts"]["inputs"] == 3
    assert json.loads(result.stdout)[0]["counts"]["skipped"] == 9
    assert "9 entries skipped" in result.stderr


def test_a_file_name_that_is_not_utf8_is_quarantined_with_an_escaped_path(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    release = thaigov_files(9, step=53)[-1].read_bytes()
    os.makedirs(os.fsencode(inputs) + b"/caf\xe9", exist_ok=True)
    with open(os.fsencode(inputs) + b"/caf\xe9/r\xe9sum\xe9.txt", "wb") as handle:
        handle.write(release)
    with open(os.fsencode(inputs) + b"/\xff\xfe.txt", "wb") as handle:
        handle.write(b"short")
    result = ogd("build", str(inputs), "--out", str(tmp_path / "pkg"), "--max-quarantine-ratio", "1")
    assert result.returncode == 0, result.stderr
    entries = {entry["path"]: entry for entry in read_quarantine(tmp_path / "pkg")}
    assert set(entries) == {"caf\\xe9/r\\xe9sum\\xe9.txt", "\\xff\\xfe.txt"}
    entry = entries["caf\\xe9/r\\xe9sum\\xe9.txt"]
    assert entry["reason"] == "undecodable-name" and "\\xNN" in entry["message"]
    # Nothing is lost: the bytes are kept, under the printable name.
    assert (tmp_path / "pkg" / entry["kept_copy"]).read_bytes() == release
    assert entry["kept_copy"] == "quarantine/files/caf\\xe9/r\\xe9sum\\xe9.txt"
    (tmp_path / "pkg" / "report.json").read_text(encoding="utf-8")  # strict UTF-8 files throughout
    (tmp_path / "pkg" / "quarantine.jsonl").read_text(encoding="utf-8")


def test_an_escaped_name_that_is_another_files_real_name_loses_neither(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    raw = os.fsencode(inputs)
    with open(raw + b"/bad-\xff.txt", "wb") as handle:  # the byte 0xff: not UTF-8
        handle.write(b"bytes of the file whose name has 0xff\n")
    with open(raw + b"/bad-\\xff.txt", "wb") as handle:  # a backslash, x, f, f: a valid UTF-8 name
        handle.write(b"bytes of the file literally named with a backslash\n")
    with open(raw + b"/a\\b-\xfe.txt", "wb") as handle:  # a backslash and a byte that is not UTF-8
        handle.write(b"third\n")
    out = tmp_path / "pkg"
    result = ogd("build", str(inputs), "--out", str(out), "--max-quarantine-ratio", "1")
    assert result.returncode == 0, result.stderr
    entries = read_quarantine(out)
    by_reason = {(entry["path"], entry["reason"]): entry for entry in entries}
    assert set(by_reason) == {("bad-\\xff.txt", "unknown-format"), ("bad-\\xff.txt", "undecodable-name"),
                              ("a\\x5cb-\\xfe.txt", "undecodable-name")}
    literal = by_reason[("bad-\\xff.txt", "unknown-format")]
    escaped = by_reason[("bad-\\xff.txt", "undecodable-name")]
    assert literal["kept_copy"] == "quarantine/files/bad-\\xff.txt" and "kept_copy_renamed" not in literal
    assert escaped["kept_copy"] == "quarantine/renamed/1/bad-\\xff.txt"
    assert "quarantine/files/bad-\\xff.txt" in escaped["kept_copy_renamed"]
    assert (out / literal["kept_copy"]).read_bytes() == b"bytes of the file literally named with a backslash\n"
    assert (out / escaped["kept_copy"]).read_bytes() == b"bytes of the file whose name has 0xff\n"
    third = by_reason[("a\\x5cb-\\xfe.txt", "undecodable-name")]
    assert (out / third["kept_copy"]).read_bytes() == b"third\n"
    # The escaped path gives back the name's exact bytes.
    assert discover.unescape_path(escaped["path"]) == b"bad-\xff.txt"
    assert discover.unescape_path(third["path"]) == b"a\\b-\xfe.txt"
    assert report_of(out)["counts"]["inputs"] == 6 and report_of(out)["counts"]["quarantined"] == 3
    # An incremental build (the literal file's outcome reused, its copy linked) gives the same package.
    again = ogd("build", str(inputs), "--out", str(out), "--max-quarantine-ratio", "1")
    full = ogd("build", str(inputs), "--out", str(tmp_path / "full"), "--name", "pkg", "--full",
               "--max-quarantine-ratio", "1")
    assert again.returncode == full.returncode == 0, again.stderr + full.stderr
    assert report_of(out)["reuse"]["inputs_reused"] == 4
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != "report.json"}
    assert files == {p.relative_to(tmp_path / "full").as_posix(): p.read_bytes()
                     for p in (tmp_path / "full").rglob("*") if p.is_file() and p.name != "report.json"}


def test_an_incremental_build_never_takes_an_escaped_names_entry_for_the_real_name(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    raw = os.fsencode(inputs)
    for name in (b"/bad-\xff.txt", b"/bad-\\xff.txt"):  # the same bytes under both names
        with open(raw + name, "wb") as handle:
            handle.write(b"same notes\n")
    dataset = ad_hoc_dataset("same", [inputs], "auto", 1.0)
    build_dataset(dataset, tmp_path / "pkg", workers=1)
    build_dataset(dataset, tmp_path / "pkg", workers=1)
    assert sorted((e["path"], e["reason"], e["kept_copy"]) for e in read_quarantine(tmp_path / "pkg")) == [
        ("bad-\\xff.txt", "undecodable-name", "quarantine/renamed/1/bad-\\xff.txt"),
        ("bad-\\xff.txt", "unknown-format", "quarantine/files/bad-\\xff.txt")]


def _deep_file(base: Path, content: bytes) -> str:
    """A file whose path is longer than PATH_MAX (made with folder descriptors, as no path could)."""
    name = "d" * 200
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    depth = 0
    try:
        while len(str(base)) + depth * (len(name) + 1) < discover.PATH_MAX + 300:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, depth = inner, depth + 1
        out = os.open("release.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, content)
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([name] * depth)


def test_a_path_longer_than_the_system_limit_is_quarantined(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    deep = _deep_file(inputs, thaigov_files(9, step=53)[-1].read_bytes())
    result = build_dataset(ad_hoc_dataset("deep", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    assert result.ok and result.counts["records"] == 3
    (entry,) = read_quarantine(tmp_path / "pkg")
    assert entry["reason"] == "path-too-long" and entry["path"].startswith(deep[:1000])
    assert entry["details"]["limit"] == discover.PATH_MAX


DROP_PRIVILEGES = """
import json, os, sys
from pathlib import Path
import pipeline.build.run, pipeline.incremental.previous, pipeline.package.writer, pipeline.validate.tables  # noqa: F401,E401
from pipeline.build.run import build_dataset
from pipeline.config import ad_hoc_dataset
import _strptime  # imported lazily by the first date parsed: now, while the standard library is readable
# A first build as root imports whatever else the build imports on its way.
build_dataset(ad_hoc_dataset("warm", [Path(sys.argv[1]) / "thaigov"], "auto", 1.0), Path(sys.argv[3]), workers=1)
os.setgid(65534)
os.setuid(65534)  # nobody: from here on, permissions apply (root reads every folder)
result = build_dataset(ad_hoc_dataset("locked", [Path(sys.argv[1])], "auto", 1.0), Path(sys.argv[2]), workers=1)
print(json.dumps({"ok": result.ok, "counts": result.counts}))
"""


def test_a_folder_the_build_cannot_list_is_quarantined_as_a_user(tmp_path: Path) -> None:
    # CI runs as root, who lists any folder: the build runs as nobody (after importing as root,
    # as the interpreter lives under /root) on a folder made accessible to it.
    base = Path(tempfile.mkdtemp(prefix="ogd-unreadable-", dir="/tmp"))
    try:
        base.chmod(0o755)
        inputs = base / "in"
        copy_thaigov(inputs, 3)
        locked = inputs / "locked"
        copy_thaigov(locked, 2, step=53)
        for path in [inputs, *inputs.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        locked.chmod(0o000)
        os.chown(base, 65534, 65534)
        result = subprocess.run([sys.executable, "-c", DROP_PRIVILEGES, str(inputs), str(base / "pkg"),
                                 str(base / "warm")], cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["ok"] and summary["counts"]["records"] == 3 and summary["counts"]["quarantined"] == 1
        (entry,) = read_quarantine(base / "pkg")
        assert entry["path"] == "locked" and entry["reason"] == "unreadable-folder"
        assert "Permission denied" in entry["message"]
    finally:
        (base / "in" / "locked").chmod(0o755) if (base / "in" / "locked").exists() else None
        shutil.rmtree(base)


def test_utf16_without_a_byte_order_mark_is_decoded(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    sources = thaigov_files(12, step=41)[-2:]
    (inputs / "le.txt").write_bytes(sources[0].read_text(encoding="utf-8").encode("utf-16-le"))
    (inputs / "be.txt").write_bytes(sources[1].read_text(encoding="utf-8").encode("utf-16-be"))
    (inputs / "odd.bin").write_bytes(bytes(range(256)) * 8 + b"\0")  # still binary
    result = build_dataset(ad_hoc_dataset("utf16", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    rows, _ = read_rows(tmp_path / "pkg")
    assert {row["source_file"]: row["source_encoding"] for row in rows} == {"le.txt": "utf-16-le", "be.txt": "utf-16-be"}
    by_file = {row["source_file"]: row for row in rows}
    assert by_file["le.txt"]["body"] and by_file["le.txt"]["title"].startswith("รัฐบาลไทย-") is False
    assert [(e["path"], e["reason"]) for e in read_quarantine(tmp_path / "pkg")] == [("odd.bin", "binary-content")]
    assert result.ok


def test_an_input_over_the_size_limit_is_quarantined_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = tmp_path / "in"
    copy_thaigov(inputs, 3)
    huge = inputs / "huge.txt"
    with open(huge, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of NULs, no disk used
    reads: list[int] = []
    real_read_bytes = decode.read_bytes

    def counting(item, max_bytes=decode.DEFAULT_MAX_INPUT_BYTES):  # noqa: ANN001, ANN202
        data = real_read_bytes(item, max_bytes)
        reads.append(len(data))
        return data

    monkeypatch.setattr("pipeline.transform.read_bytes", counting)
    result = build_dataset(ad_hoc_dataset("big", [inputs], "auto", 1.0), tmp_path / "pkg", workers=1)
    assert result.ok and result.counts["records"] == 3
    (entry,) = read_quarantine(tmp_path / "pkg")
    assert entry["path"] == "huge.txt" and entry["reason"] == "too-large"
    assert entry["details"] == {"bytes": 64 * 1024 * 1024, "max_input_bytes": 5 * 1024 * 1024}
    assert max(reads) < 200_000  # only the releases were read
    assert report_of(tmp_path / "pkg")["max_input_bytes"] == 5 * 1024 * 1024


def test_the_size_limit_is_configurable_and_decided_again_by_each_build(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    files = copy_thaigov(inputs, 3)
    limit = min(f.stat().st_size for f in files) - 1
    out = tmp_path / "pkg"
    small = ogd("build", str(inputs), "--out", str(out), "--max-input-bytes", str(limit), "--max-quarantine-ratio", "1")
    assert small.returncode == 0, small.stderr
    assert {e["reason"] for e in read_quarantine(out)} == {"too-large"} and len(read_quarantine(out)) == 3
    # The same inputs with the default limit: records now (not the previous build's too-large).
    again = ogd("build", str(inputs), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert read_quarantine(out) == [] and len(read_rows(out)[0]) == 3
    config = tmp_path / "datasets.toml"
    config.write_text(
        (REPO / "datasets.toml").read_text(encoding="utf-8").replace("[defaults]\n", "[defaults]\nmax_input_bytes = 1000\n", 1),
        encoding="utf-8")
    assert all(d.max_input_bytes == 1000 for d in load_config(config).values())
    config.write_text(config.read_text(encoding="utf-8").replace("max_input_bytes = 1000", "max_input_bytes = -1"),
                      encoding="utf-8")
    with pytest.raises(Exception) as raised:
        load_config(config)
    assert any("max_input_bytes must be a whole number" in p for p in raised.value.problems)
