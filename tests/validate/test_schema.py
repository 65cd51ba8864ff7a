"""The record type and the Table Schema file must agree field for field."""

import dataclasses
import json

from pipeline.validate.rules import arrow_schema
from pipeline.record import RELEASES_SCHEMA_PATH, Release

REQUIRED_BY_CONTRACT = {
    "release_id", "source", "source_url", "source_file", "category", "title", "published_date",
    "published_date_text", "agency", "office", "contact_phone", "byline", "read_count", "vote_count",
    "body", "body_words", "word_count", "language", "content_sha256",
}

PY_TO_TABLE = {"str": "string", "int": "integer", "dt.date": "date"}


def test_release_fields_match_schema_file_in_order_and_type() -> None:
    schema = json.loads(RELEASES_SCHEMA_PATH.read_text(encoding="utf-8"))
    schema_fields = [(f["name"], f["type"]) for f in schema["fields"]]
    record_fields = [
        (f.name, PY_TO_TABLE[str(f.type).split(" | ")[0]]) for f in dataclasses.fields(Release)
    ]
    assert record_fields == schema_fields
    assert REQUIRED_BY_CONTRACT <= {name for name, _ in schema_fields}
    assert schema["primaryKey"] == ["release_id"]
    for field in schema["fields"]:
        assert field.get("description"), f"{field['name']} has no description"
        optional = "None" in str(next(f.type for f in dataclasses.fields(Release) if f.name == field["name"]))
        assert optional != field.get("constraints", {}).get("required", False), field["name"]


def test_arrow_schema_follows_table_schema_types() -> None:
    schema = json.loads(RELEASES_SCHEMA_PATH.read_text(encoding="utf-8"))
    arrow = arrow_schema(schema)
    assert str(arrow.field("published_date").type) == "date32[day]"
    assert str(arrow.field("read_count").type) == "int64"
    assert arrow.field("release_id").nullable is False
    assert arrow.field("byline").nullable is True


def test_source_enum_lists_every_registered_source() -> None:
    # The schema file is the consumers' contract and stays static JSON: a new source module is
    # added to it by hand, which this test asks for.
    from pipeline.sources.registry import source_names

    schema = json.loads(RELEASES_SCHEMA_PATH.read_text(encoding="utf-8"))
    source = next(f for f in schema["fields"] if f["name"] == "source")
    assert source["constraints"]["enum"] == list(source_names()), (
        "pipeline/schemas/releases.schema.json: set the 'source' field's constraints.enum to "
        f"{list(source_names())} (the registered sources, sorted) and say what each one reads in its description")
    for name in source_names():
        assert f"'{name}'" in source["description"], (
            f"pipeline/schemas/releases.schema.json: the 'source' field's description does not say what '{name}' reads")


def test_every_field_has_its_thai_label_and_description_in_the_schema_and_so_in_datapackage_json() -> None:
    # The bilingual data dictionary (issue 18) is the Table Schema's own: datapackage.json and the DataStore
    # dictionary both carry it (Frictionless allows extra properties).
    from pipeline.record import load_table_schema

    fields = {field["name"]: field for field in load_table_schema()["fields"]}
    assert all(field.get("title_th") and field.get("description_th") for field in fields.values())
    assert (fields["title"]["title_th"], fields["published_date"]["title_th"], fields["body"]["title_th"]) == (
        "หัวข้อข่าว", "วันที่เผยแพร่", "เนื้อหา")
