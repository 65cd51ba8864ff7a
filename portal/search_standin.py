"""A stand-in for Apache Solr, for the local preview portal only.

Apache Solr cannot be installed on these machines, and CKAN core calls Solr on
every dataset write. This small HTTP service speaks the part of Solr's
protocol that CKAN's ``pysolr`` client uses, so CKAN itself stays completely
stock (only ``solr_url`` points here):

* ``/select`` (GET and POST): ``q`` (dismax/edismax free text over all indexed
  text, or Lucene field queries), ``fq``, boolean operators, ``+``/``-``,
  phrases, ``prefix*``, ranges, ``sort``, ``start``/``rows``, ``fl``, facets;
* ``/update``: JSON add (overwrite by ``index_id``), XML delete by id or query,
  commit (every change is committed at once);
* ``/schema`` and ``/admin/file/?file=schema.xml``: CKAN's own bundled
  ``schema.xml``, so CKAN's schema version check passes; ``/admin/ping``.

Every request must carry the shared secret as HTTP basic auth (CKAN sends
its ``solr_user``/``solr_password``); anything else gets 401: the index holds
private datasets' metadata. The service listens on 127.0.0.1 only.

It replaces **search only**: documents persist in one SQLite file and are
matched in memory. It does no stemming and no relevance tuning, so tests must
not depend on Solr's ranking. One deliberate difference: a Thai term also
matches inside a longer Thai run (Solr's whitespace tokenizer would not split
unspaced Thai at all).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hmac
import json
import math
import os
import re
import sqlite3
import threading
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

# Fields whose values are not searchable text (serialised dicts, ids of other sites).
_NOT_TEXT = {"data_dict", "validated_data_dict", "index_id", "site_id", "permission_labels", "capacity", "state"}
_TOKEN = re.compile(r"[\w\u0e00-\u0e7f]+", re.UNICODE)
_THAI = re.compile(r"[\u0e00-\u0e7f]")

Predicate = Callable[[dict[str, Any]], bool]


# ----------------------------------------------------------------- query language


class QueryError(ValueError):
    pass


def _tokenize_query(text: str) -> list[str]:
    """Split a Lucene query into tokens: parens, operators, field:value clauses, phrases."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            tokens.append(ch)
            i += 1
            continue
        start = i
        depth = 0
        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                i += 2
                continue
            if ch == '"':
                end = text.find('"', i + 1)
                i = n if end == -1 else end + 1
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            elif ch == "(" and text[start:i].endswith(":"):
                # field:( a OR b ) -> keep the group with its field
                close, level = i, 0
                while close < n:
                    if text[close] == "(":
                        level += 1
                    elif text[close] == ")":
                        level -= 1
                        if level == 0:
                            break
                    close += 1
                i = close + 1
                continue
            elif depth == 0 and (ch.isspace() or ch in "()"):
                break
            i += 1
        tokens.append(text[start:i])
    return tokens


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _values(doc: dict[str, Any], field: str) -> list[Any]:
    if field in ("*", "text", "_text_"):
        found: list[Any] = []
        for key, value in doc.items():
            if key not in _NOT_TEXT:
                found.extend(value if isinstance(value, list) else [value])
        return found
    value = doc.get(field)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _term_matches(value: Any, term: str) -> bool:
    text = str(value).lower()
    term = term.lower()
    if "*" in term or "?" in term:
        return fnmatch.fnmatchcase(text, term) or any(fnmatch.fnmatchcase(t, term) for t in _TOKEN.findall(text))
    if text == term:
        return True
    tokens = _TOKEN.findall(text)
    if term in tokens:
        return True
    # Thai is written without spaces between words: match inside a Thai run.
    return bool(_THAI.search(term)) and term in text


def _range_matches(value: Any, low: str, high: str, inclusive: tuple[bool, bool]) -> bool:
    def key(item: Any) -> Any:
        try:
            return float(item)
        except (TypeError, ValueError):
            return str(item)

    item = key(value)
    try:
        if low != "*":
            bound = key(low)
            if item < bound or (item == bound and not inclusive[0]):
                return False
        if high != "*":
            bound = key(high)
            if item > bound or (item == bound and not inclusive[1]):
                return False
    except TypeError:
        return False
    return True


def _clause(token: str, default_field: str | None, free_text: Callable[[str], Predicate]) -> Predicate:
    field, value = None, token
    match = re.match(r"^((?:\\.|[^:\\\s\"])+):(.*)$", token, re.S)
    if match and not token.startswith('"'):
        field, value = _unescape(match.group(1)), match.group(2)
    if token == "*:*":
        return lambda doc: True
    if field is None:
        if value.startswith('"') and value.endswith('"'):
            phrase = _unescape(value[1:-1]).lower()
            return free_text(phrase) if default_field is None else (
                lambda doc: any(phrase in str(v).lower() for v in _values(doc, default_field))
            )
        return free_text(_unescape(value))
    if value.startswith("(") and value.endswith(")"):
        # field:(a OR b): Solr's q.op applies inside too, but CKAN only writes OR lists here.
        return parse_query(value[1:-1], default_field=field)
    range_match = re.match(r"^([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])$", value)
    if range_match:
        low, high = _unescape(range_match.group(2)), _unescape(range_match.group(3))
        inclusive = (range_match.group(1) == "[", range_match.group(4) == "]")
        return lambda doc: any(_range_matches(v, low, high, inclusive) for v in _values(doc, field))
    if value == "*":
        return lambda doc: bool(_values(doc, field))
    if value.startswith('"') and value.endswith('"'):
        phrase = _unescape(value[1:-1]).lower()
        return lambda doc: any(str(v).lower() == phrase or phrase in str(v).lower() for v in _values(doc, field))
    term = _unescape(value)
    return lambda doc: any(_term_matches(v, term) for v in _values(doc, field))


def parse_query(
    text: str,
    *,
    default_field: str | None = None,
    free_text: Callable[[str], Predicate] | None = None,
    minimum_should_match: Callable[[int], int] | None = None,
    default_operator: str = "OR",
) -> Predicate:
    """Compile a Lucene query string into a predicate over documents.

    ``default_operator`` is Solr's ``q.op``: with "AND" (what CKAN sends) a
    clause with neither ``+``/``-`` nor an ``OR`` beside it is required.
    """
    if free_text is None:
        field = default_field or "text"
        free_text = lambda term: (lambda doc: any(_term_matches(v, term) for v in _values(doc, field)))  # noqa: E731
    tokens = _tokenize_query(text)
    position = 0

    def parse_group() -> Predicate:
        nonlocal position
        must: list[Predicate] = []
        should: list[Predicate] = []
        must_not: list[Predicate] = []
        pending_and = False
        pending_or = False
        previous: tuple[list[Predicate], Predicate, bool] | None = None
        unmarked = "must" if default_operator == "AND" else "should"
        while position < len(tokens):
            token = tokens[position]
            if token == ")":
                position += 1
                break
            position += 1
            if token in ("AND", "&&"):
                pending_and = True
                if previous and previous[0] is should:
                    should.remove(previous[1])
                    must.append(previous[1])
                    previous = (must, previous[1], False)
                continue
            if token in ("OR", "||"):
                pending_or = True
                if previous and previous[0] is must and previous[2]:
                    must.remove(previous[1])
                    should.append(previous[1])
                continue
            negate = token in ("NOT", "!")
            if negate:
                if position >= len(tokens):
                    break
                token = tokens[position]
                position += 1
            occur = unmarked
            explicit = False  # a +/- marker: an OR beside it does not make it optional
            if token.startswith("+") and len(token) > 1:
                occur, token, explicit = "must", token[1:], True
            elif token.startswith("-") and len(token) > 1:
                occur, token, explicit = "must_not", token[1:], True
            elif token == "+" or token == "-":
                occur, explicit = ("must" if token == "+" else "must_not"), True
                token = tokens[position]
                position += 1
            if token == "(":
                predicate = parse_group()
            else:
                predicate = _clause(token, default_field, free_text)
            if negate:
                occur = "must_not"
            elif pending_and and occur == "should":
                occur = "must"
            elif pending_or and not explicit and occur == "must":
                occur = "should"
            pending_and = pending_or = False
            target = {"must": must, "should": should, "must_not": must_not}[occur]
            target.append(predicate)
            previous = (target, predicate, not explicit)
        needed = 1 if (should and not must) else 0  # a purely negative query matches all but its exclusions
        if should and minimum_should_match and not must:
            needed = minimum_should_match(len(should))

        def matches(doc: dict[str, Any]) -> bool:
            if any(not p(doc) for p in must):
                return False
            if any(p(doc) for p in must_not):
                return False
            if needed:
                hits = 0
                for p in should:
                    if p(doc):
                        hits += 1
                        if hits >= needed:
                            return True
                return False
            return True

        return matches

    if not tokens:
        return lambda doc: True
    return parse_group()


def _mm(spec: str) -> Callable[[int], int]:
    """Solr's minimum-should-match for CKAN's default '2<-1 5<80%'."""

    def needed(count: int) -> int:
        result = count
        for part in spec.split():
            if "<" not in part:
                continue
            threshold, rule = part.split("<", 1)
            if count > int(threshold):
                if rule.endswith("%"):
                    percent = int(rule[:-1])
                    result = math.floor(count * percent / 100) if percent > 0 else count + math.ceil(count * percent / 100)
                else:
                    value = int(rule)
                    result = count + value if value < 0 else value
        return max(1, min(count, result))

    return needed


# ----------------------------------------------------------------- the index


class Index:
    """Documents by ``index_id``, persisted in SQLite, searched in memory."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self._db.commit()
        self.docs: dict[str, dict[str, Any]] = {
            row[0]: json.loads(row[1]) for row in self._db.execute("SELECT id, doc FROM docs")
        }

    @staticmethod
    def _key(doc: dict[str, Any]) -> str:
        return str(doc.get("index_id") or doc.get("id"))

    def add(self, docs: list[dict[str, Any]]) -> None:
        with self._lock:
            for doc in docs:
                key = self._key(doc)
                self.docs[key] = doc
                self._db.execute("INSERT OR REPLACE INTO docs VALUES (?, ?)", (key, json.dumps(doc)))
            self._db.commit()

    def delete_ids(self, ids: list[str]) -> None:
        with self._lock:
            for key in ids:
                for doc_key in [k for k, d in self.docs.items() if k == key or d.get("id") == key]:
                    del self.docs[doc_key]
                    self._db.execute("DELETE FROM docs WHERE id = ?", (doc_key,))
            self._db.commit()

    def delete_query(self, query: str) -> None:
        predicate = parse_query(query)
        with self._lock:
            for key in [k for k, d in self.docs.items() if predicate(d)]:
                del self.docs[key]
                self._db.execute("DELETE FROM docs WHERE id = ?", (key,))
            self._db.commit()

    def select(self, params: dict[str, list[str]]) -> dict[str, Any]:
        first = lambda name, default=None: (params.get(name) or [default])[0]  # noqa: E731
        q = first("q", "*:*") or "*:*"
        def_type = first("defType")
        free_text_fields = None
        if def_type in ("dismax", "edismax"):
            qf = first("qf", "name^4 title^4 tags^2 groups^2 text")
            free_text_fields = [f.split("^")[0] for f in qf.split()]

        def free_text(term: str) -> Predicate:
            fields = free_text_fields or ["text"]
            if term.startswith('"') and term.endswith('"'):
                term = term[1:-1]
            if " " in term:  # a phrase
                phrase = term.lower()
                return lambda doc: any(phrase in str(v).lower() for f in fields for v in _values(doc, f))
            return lambda doc: any(_term_matches(v, term) for f in fields for v in _values(doc, f))

        operator = (first("q.op", "OR") or "OR").upper()
        if free_text_fields:
            main = parse_query(q, free_text=free_text, minimum_should_match=_mm(first("mm", "2<-1 5<80%")),
                               default_operator=operator if def_type == "edismax" else "OR")
        else:
            main = parse_query(q, default_operator=operator)
        filters = [parse_query(fq, default_operator=operator) for fq in params.get("fq", []) if fq.strip()]
        with self._lock:
            matched = [d for d in self.docs.values() if main(d) and all(f(d) for f in filters)]
        matched = _sort(matched, first("sort", "") or "")
        start = int(first("start", "0") or 0)
        rows = int(first("rows", "10") or 10)
        fl = first("fl", "*") or "*"
        wanted = [f for f in re.split(r"[\s,]+", fl) if f]
        page = [
            doc if "*" in wanted else {k: v for k, v in doc.items() if k in wanted}
            for doc in matched[start:start + rows]
        ]
        response: dict[str, Any] = {
            "responseHeader": {"status": 0, "QTime": 0, "params": {k: v[0] if len(v) == 1 else v for k, v in params.items()}},
            "response": {"numFound": len(matched), "start": start, "docs": page},
        }
        if first("facet", "false") == "true":
            response["facet_counts"] = {
                "facet_queries": {},
                "facet_fields": _facets(matched, params.get("facet.field", []),
                                        int(first("facet.limit", "50") or 50), int(first("facet.mincount", "1") or 1)),
            }
        return response


def _sort(docs: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    keys = [part.split() for part in spec.split(",") if part.strip()]
    for key in reversed(keys):
        field = key[0]
        descending = len(key) > 1 and key[1].lower() == "desc"
        if field == "score":
            continue  # no relevance model: keep the previous order

        def sort_key(doc: dict[str, Any], field: str = field) -> tuple[int, Any]:
            value = doc.get(field)
            if isinstance(value, list):
                value = value[0] if value else None
            if value is None:
                return (1, "")
            return (0, value if isinstance(value, (int, float)) else str(value).lower())

        present = [d for d in docs if sort_key(d)[0] == 0]
        missing = [d for d in docs if sort_key(d)[0] == 1]
        docs = sorted(present, key=sort_key, reverse=descending) + missing
    return docs


def _facets(docs: list[dict[str, Any]], fields: list[str], limit: int, mincount: int) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for field in fields:
        counts: dict[str, int] = {}
        for doc in docs:
            for value in _values(doc, field):
                counts[str(value)] = counts.get(str(value), 0) + 1
        ordered = sorted(((v, c) for v, c in counts.items() if c >= mincount), key=lambda item: (-item[1], item[0]))
        if limit >= 0:
            ordered = ordered[:limit]
        result[field] = [item for pair in ordered for item in pair]
    return result


# ----------------------------------------------------------------- HTTP


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def read_auth_file(path: str) -> tuple[str, str]:
    """The one ``user:password`` line of the shared-secret file (mode 600, written by the portal scripts)."""
    with open(path, encoding="utf-8") as handle:
        line = handle.readline().strip()
    user, separator, password = line.partition(":")
    if not (user and separator and password):
        raise SystemExit(f"{path}: expected one line 'user:password' (the shared secret with CKAN)")
    return user, password


def make_handler(index: Index, schema_xml: bytes, credentials: tuple[str, str]) -> type[BaseHTTPRequestHandler]:
    expected = basic_auth_header(*credentials).encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "ogd-search-standin/1"

        def _authorized(self) -> bool:
            given = (self.headers.get("Authorization") or "").strip().encode()
            if hmac.compare_digest(given, expected):  # constant time: no guessing the secret byte by byte
                return True
            body = json.dumps({"error": {"msg": "authentication required (the portal's shared secret)",
                                         "code": 401}}).encode()
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="ogd-search-standin"')
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return False

        def log_message(self, format: str, *args: Any) -> None:  # quiet: CKAN logs its own calls
            pass

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type + "; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._reply(status, json.dumps(data).encode())

        def _route(self, params: dict[str, list[str]], body: bytes) -> None:
            path = urlsplit(self.path).path.rstrip("/")
            try:
                if path.endswith("/select"):
                    self._json(200, index.select(params))
                elif path.endswith("/update"):
                    self._update(body, self.headers.get("Content-Type", ""))
                elif path.endswith("/schema") or path.endswith("/schema/name") or path.endswith("/admin/file"):
                    self._reply(200, schema_xml, "application/xml")
                elif path.endswith("/admin/ping"):
                    self._json(200, {"status": "OK"})
                else:
                    self._json(404, {"error": {"msg": f"unknown path {path}", "code": 404}})
            except QueryError as exc:
                self._json(400, {"error": {"msg": str(exc), "code": 400}})
            except Exception as exc:  # report, never crash the service
                self._json(500, {"error": {"msg": f"{type(exc).__name__}: {exc}", "code": 500}})

        def _update(self, body: bytes, content_type: str) -> None:
            text = body.decode("utf-8").strip()
            if text.startswith("[") or text.startswith("{"):
                payload = json.loads(text)
                docs = payload if isinstance(payload, list) else payload.get("add", [payload])
                index.add([d.get("doc", d) if isinstance(d, dict) else d for d in docs])
            elif text:
                root = ElementTree.fromstring(text)
                if root.tag == "delete":
                    ids = [e.text or "" for e in root.findall("id")]
                    if ids:
                        index.delete_ids(ids)
                    for query in root.findall("query"):
                        index.delete_query(query.text or "")
                elif root.tag == "add":
                    docs = []
                    for doc_el in root.findall("doc"):
                        doc: dict[str, Any] = {}
                        for field_el in doc_el.findall("field"):
                            name = field_el.get("name", "")
                            if name in doc:
                                doc[name] = (doc[name] if isinstance(doc[name], list) else [doc[name]]) + [field_el.text]
                            else:
                                doc[name] = field_el.text
                        docs.append(doc)
                    index.add(docs)
                # <commit/> and <optimize/>: every change is already committed.
            self._json(200, {"responseHeader": {"status": 0, "QTime": 0}})

        def do_GET(self) -> None:  # noqa: N802
            if not self._authorized():
                return
            self._route(parse_qs(urlsplit(self.path).query, keep_blank_values=True), b"")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)  # read even when refused: the connection stays in step
            if not self._authorized():
                return
            params = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                for key, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
                body = b""
            self._route(params, body)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Solr stand-in for the local CKAN preview portal (search only).")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1", "localhost"],
                        help="loopback only: the index holds private datasets' metadata")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite file that keeps the documents")
    parser.add_argument("--schema-xml", required=True, help="CKAN's bundled Solr schema.xml, served as-is")
    parser.add_argument("--auth-file", required=True,
                        help="file with one line 'user:password': the basic-auth secret shared with CKAN")
    args = parser.parse_args()
    os.umask(0o077)  # the index (private datasets' metadata) is readable by its owner only
    credentials = read_auth_file(args.auth_file)
    with open(args.schema_xml, "rb") as handle:
        schema_xml = handle.read()
    index = Index(args.db)
    os.chmod(args.db, 0o600)  # an index file made by older scripts was world-readable
    server = ThreadingHTTPServer((args.host, args.port), make_handler(index, schema_xml, credentials))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
