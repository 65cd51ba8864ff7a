"""The problem taxonomy (pipeline/problems.py): the README's tables list exactly what is registered, the code
makes no problem with a code that is not registered, and every exit code is decided in one table."""

from __future__ import annotations

import ast
import datetime as dt
import re

import pyarrow as pa
import pytest

from pipeline.problems import (
    EXIT_CODES,
    QUARANTINE_REASONS,
    SKIPPED_REASONS,
    AuthError,
    Busy,
    ConfigError,
    DataError,
    ExitCode,
    InputProblem,
    OutputError,
    PipelineError,
    PortalRejected,
    PortalUnavailable,
    Problem,
    SourceUnreachable,
    UsageError,
)

from conftest import REPO  # noqa: E402
README = (REPO / "README.md").read_text(encoding="utf-8")
SOURCES = sorted((REPO / "pipeline").rglob("*.py"))


def _table(header: str) -> list[str]:
    """The first cells of the README's table whose header row is ``header``."""
    lines = README.split("\n")
    start = lines.index(header)
    assert lines[start + 1].startswith("|---")
    cells = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells.append(line.split("|")[1].strip())
    return cells


def test_the_readme_lists_every_quarantine_reason_and_no_other() -> None:
    listed = [re.fullmatch(r"`([a-z0-9-]+)`", cell).group(1) for cell in _table("| reason | meaning |")]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(QUARANTINE_REASONS)


def test_the_readme_lists_every_skipped_reason_and_no_other() -> None:
    paragraph = README[README.index("Their reasons: "):README.index("A link to a file is read only")]
    listed = re.findall(r"`([a-z][a-z0-9-]*)`", paragraph)
    assert listed[0] == "hidden" and listed[-1] == "linked-folder"
    assert set(listed) == set(SKIPPED_REASONS)


def test_the_readme_lists_every_exit_code_and_no_other() -> None:
    listed = [int(cell) for cell in _table("| code | meaning |")]
    assert listed == sorted(listed)
    assert set(listed) == {int(code) for code in ExitCode}


def test_each_run_stopping_error_class_has_its_exit_code() -> None:
    from pipeline.build.executor import WorkerDied

    expected = {PipelineError: 1, WorkerDied: 1, ConfigError: 2, UsageError: 2, DataError: 3, AuthError: 4,
                PortalUnavailable: 5, PortalRejected: 6, Busy: 7, OutputError: 8, SourceUnreachable: 9}
    assert {cls: int(cls.exit_code) for cls in expected} == expected
    # Every failing code but Ctrl-C's belongs to a class of the table.
    assert set(EXIT_CODES.values()) == set(ExitCode) - {ExitCode.OK, ExitCode.INTERRUPTED}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


# Where each constructor of a problem takes its code: (positional index, registry).
_QUARANTINE_CONSTRUCTORS = {"Problem": 1, "refuse": 1, "InputProblem": 0, "DecodeProblem": 0, "ParseProblem": 0,
                            "DateError": 0, "fail": 0}
_SKIPPED_CONSTRUCTORS = {"Skipped": 1, "skip": 1}


def _codes_in_source() -> dict[str, set[tuple[str, str]]]:
    """Every string literal the code gives a problem constructor as its code: {"quarantine"|"skipped": {(code, where)}}."""
    found: dict[str, set[tuple[str, str]]] = {"quarantine": set(), "skipped": set()}
    problem_classes = {"InputProblem", "DecodeProblem", "ParseProblem", "DateError"}
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO).as_posix()
        # Subclasses of a problem class give their code to super().__init__.
        for cls in [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]:
            if {_name(base) for base in cls.bases} & problem_classes:
                problem_classes.add(cls.name)
                for call in _calls(cls):
                    if _name(call.func) == "__init__" and call.args and isinstance(call.args[0], ast.Constant) \
                            and isinstance(call.args[0].value, str):
                        found["quarantine"].add((call.args[0].value, where))
        for call in _calls(tree):
            name = _name(call.func)
            for kind, constructors in (("quarantine", {**_QUARANTINE_CONSTRUCTORS,
                                                       **{c: 0 for c in problem_classes - {"Problem"}}}),
                                       ("skipped", _SKIPPED_CONSTRUCTORS)):
                if name not in constructors:
                    continue
                index = constructors[name]
                argument = call.args[index] if len(call.args) > index else next(
                    (k.value for k in call.keywords if k.arg in ("reason", "code")), None)
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found[kind].add((argument.value, where))
    return found


def test_every_code_the_source_gives_a_problem_is_registered() -> None:
    found = _codes_in_source()
    # The scan must see the constructors it is about (a scan that finds nothing proves nothing).
    seen = {code for code, _ in found["quarantine"]}
    assert {"duplicate", "empty-file", "symlink-outside-root", "schema-violation", "missing-title",
            "implausible-date"} <= seen
    assert {"hidden", "fifo", "linked-folder"} <= {code for code, _ in found["skipped"]}
    # thaidates' DateProblem codes describe dates found in running text, never a quarantined input
    # (transform reads dates with thaitext.parse_date): they are its own, not the build's.
    unregistered = sorted((code, where) for code, where in found["quarantine"]
                          if code not in QUARANTINE_REASONS and where != "pipeline/thaidates.py")
    assert unregistered == []
    assert sorted((c, w) for c, w in found["skipped"] if c not in SKIPPED_REASONS) == []
    # And nothing registered is dead: every reason is made somewhere (the build reads them all from the code).
    assert {code for code, _ in found["quarantine"]} >= set(QUARANTINE_REASONS)
    assert {code for code, _ in found["skipped"]} >= set(SKIPPED_REASONS)


def test_no_exit_code_is_decided_outside_the_table() -> None:
    for path in SOURCES:
        where = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and where != "pipeline/problems.py":
                assigned = {target.id for stmt in node.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                            for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                            if isinstance(target, ast.Name)}
                assert "exit_code" not in assigned, f"{where}: {node.name} sets its own exit code"
            if isinstance(node, ast.Call) and _name(node.func) in ("exit", "SystemExit") and node.args:
                assert not isinstance(node.args[0], ast.Constant), f"{where}:{node.lineno}: an exit code by number"


def test_a_problem_with_an_unregistered_code_is_refused_where_it_is_made() -> None:
    from pipeline.extract.discover import Skipped

    with pytest.raises(ValueError, match="'duplicated' is not a registered quarantine reason"):
        Problem("a.txt", "duplicated", "a typo", "validate")
    with pytest.raises(ValueError, match="found by the validate stage, not by 'transform'"):
        Problem("a.txt", "duplicate", "the wrong stage", "transform")
    with pytest.raises(ValueError, match="'emtpy-file' is not a registered quarantine reason"):
        InputProblem("emtpy-file", "a typo")
    with pytest.raises(ValueError, match="'hiden' is not a registered reason for a skipped entry"):
        Skipped("a", "hiden", "a typo")
    assert Problem("a.txt", "duplicate", "kept elsewhere", "validate").reason == "duplicate"


def test_every_reason_says_how_to_fix_it() -> None:
    for kind in [*QUARANTINE_REASONS.values(), *SKIPPED_REASONS.values()]:
        assert kind.description and kind.hint, kind.code
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", kind.code)
    assert {code for code, kind in QUARANTINE_REASONS.items() if not kind.copy_kept} == {
        "symlink-outside-root", "path-too-long", "unreadable-folder"}


def _valid_row() -> dict:
    from pipeline.record import RELEASE_FIELDS

    row = {name: None for name in RELEASE_FIELDS}
    row.update(release_id="thaigov-1", source="thaigov", source_kind="text", date_source="date-line", source_url="https://www.thaigov.go.th/news/contents/details/1",
               source_file="a.txt", source_sha256="0" * 64, source_encoding="utf-8", title="ข่าว",
               published_date=dt.date(2020, 6, 17), published_date_text="17 มิ.ย. 2563", body="เนื้อหา",
               body_words="เนื้อหา", word_count=1, language="th", content_sha256="1" * 64, parser_version="1")
    return row


@pytest.mark.parametrize("broken", [
    {"source_url": "www.thaigov.go.th/news/contents/details/1"},  # not a URI: no scheme
    {"release_id": "THAIGOV_1"},
    {"title": ""},
    {"title": "ข" * 2001},
    {"published_date": dt.date(1980, 1, 1)},
    {"word_count": 0},
    {"language": "xx"},
    {"contact_phone": "02 618 2323"},
    {"source_encoding": "latin-1"},
])
def test_the_record_check_and_the_table_check_agree_on_every_rule(broken: dict) -> None:
    # The build checks each record once (RecordValidator, before writing); `ogd validate` checks the
    # table (TableChecker). A row one of them refuses, the other must refuse for the same fields.
    from pipeline.record import load_table_schema
    from pipeline.validate.records import RecordValidator
    from pipeline.validate.rules import arrow_schema, as_text
    from pipeline.validate.tables import TableChecker

    schema = load_table_schema()
    row = {**_valid_row(), **broken}
    record_fields = {error.field for error in RecordValidator(schema).errors(row)}
    checker = TableChecker(schema)
    checker.check(as_text(pa.Table.from_pylist([row], schema=arrow_schema(schema))))
    table_fields = {error["field"] for error in checker.errors()}
    assert record_fields == table_fields == set(broken)


def test_a_valid_row_passes_both_checks() -> None:
    from pipeline.record import load_table_schema
    from pipeline.validate.records import RecordValidator
    from pipeline.validate.rules import arrow_schema, as_text
    from pipeline.validate.tables import TableChecker

    schema = load_table_schema()
    checker = TableChecker(schema)
    checker.check(as_text(pa.Table.from_pylist([_valid_row()], schema=arrow_schema(schema))))
    assert RecordValidator(schema).errors(_valid_row()) == [] and checker.errors() == []
