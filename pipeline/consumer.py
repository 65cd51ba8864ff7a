"""For the people who use the data: a package's releases as a typed table, in one call.

A CSV read naively loses the Table Schema's types (pandas reads counts with
empty cells as float and ``parser_version`` as an integer; DuckDB may read
``read_count`` as text). The package's Parquet files keep them; this reads them
(the whole table, or its parts by year when only those were published) and
checks their columns against the package's own Table Schema, from a package
folder or, through ``ogd pull``'s verification, straight from a portal::

    from pipeline.consumer import read_releases
    df = read_releases("datapackages/thaigov-news-sample")              # pandas, typed
    df = read_releases("thaigov-news-sample", portal="https://data.example.go.th", into="copies")
    table = read_releases("copies/thaigov-news-sample", arrow=True)   # a pyarrow.Table
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from .ckan.client import PortalClient, portal_settings
from .ckan.pull import pull_dataset
from .package.layout import DESCRIPTOR_PATH, PARQUET_PATH
from .problems import DataError
from .validate.rules import arrow_schema

if TYPE_CHECKING:
    import pandas


def read_releases(source: str | Path, *, portal: str | None = None, into: str | Path | None = None,
                  columns: list[str] | None = None, arrow: bool = False) -> pandas.DataFrame | pa.Table:
    """The releases of a package folder ``source`` (or, with ``portal``, of the dataset named ``source`` on that
    portal, pulled and verified into ``into``/NAME first), typed by the package's Table Schema.

    pandas columns: strings as ``string``, whole numbers as nullable ``Int64``, dates as ``datetime64``; with
    ``arrow`` the Arrow table itself. Raises :class:`pipeline.problems.DataError` for a folder that is no
    package, or a pull that did not verify.
    """
    folder = _pulled(str(source), portal, into) if portal else Path(source)
    table = _read_table(folder, columns)
    if arrow:
        return table
    import pandas as pd

    mapping = {pa.string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
               pa.bool_(): pd.BooleanDtype(), pa.float64(): pd.Float64Dtype()}
    return table.to_pandas(types_mapper=mapping.get, date_as_object=False)


def _pulled(name: str, portal: str, into: str | Path | None) -> Path:
    settings = portal_settings(url=portal, use_local_token=False, command="pull")
    target = Path(into or ".") / name
    # Never forced: a previous copy of the same dataset is replaced after verification, anything else refused.
    result = pull_dataset(PortalClient(settings.url, settings.token, command="pull"), name, target)
    if not result.ok:
        raise DataError(f"the copy of {name} pulled from {settings.url} did not verify: "
                        + "; ".join(result.mismatches or ["invalid package"]), f"see {result.folder}")
    return result.folder


def _read_table(folder: Path, columns: list[str] | None) -> pa.Table:
    try:
        descriptor = json.loads((folder / DESCRIPTOR_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{folder} is not a data package ({DESCRIPTOR_PATH}: {error})",
                        "give a package folder as written by ogd build or ogd pull") from None
    schema = _table_schema(descriptor, folder)
    wanted = arrow_schema(schema)
    # The whole table when the package has it, else its parts in key order (a table published in parts).
    parts = [part["parquet"]["path"] for part in (descriptor.get("x_ogd") or {}).get("parts") or []]
    paths = [PARQUET_PATH] if (folder / PARQUET_PATH).is_file() else parts
    if not paths or not all((folder / path).is_file() for path in paths):
        raise DataError(f"{folder} holds no Parquet table ({PARQUET_PATH} or its parts)",
                        "pull the dataset again: ogd pull NAME --out DIR")
    tables = [pq.read_table(folder / path, columns=columns) for path in paths]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    expected = pa.schema([wanted.field(name) for name in (columns or wanted.names)])
    if table.schema.names != expected.names or any(
            got.type != want.type for got, want in zip(table.schema, expected)):
        raise DataError(f"{folder}: the Parquet table's columns are not those of its Table Schema",
                        "rebuild or pull the package again")
    return table


def _table_schema(descriptor: dict[str, Any], folder: Path) -> dict[str, Any]:
    for resource in descriptor.get("resources", []):
        if isinstance(resource, dict) and resource.get("format") == "parquet" and isinstance(resource.get("schema"), dict):
            return resource["schema"]
    raise DataError(f"{folder}: datapackage.json has no Parquet resource with a Table Schema",
                    "give a package written by ogd build or ogd pull")
