"""Validating exchanges (one request and its answer) and JSON-lines logs of them."""

import json
import re
import urllib.parse

from .schema import Checker
from .specs import SpecStore
from .violations import KINDS, Violation

LRO_STATUS_PATH = re.compile(r"/providers/[^/]+/locations/[^/]+/[^/]*operations/[^/]+/?$", re.I)


def api_version_of(exchange):
    """The exchange's api-version: its ``apiVersion`` field, else the path's query."""
    if exchange.get("apiVersion"):
        return exchange["apiVersion"]
    query = urllib.parse.parse_qs(exchange["path"].partition("?")[2])
    return (query.get("api-version") or [None])[0]


def validate_exchange(store, exchange, line=None):
    """Every :class:`Violation` of one exchange (a dict as in the package's docstring)."""
    method, path = exchange["method"].upper(), exchange["path"]
    api_version = api_version_of(exchange)
    found = []

    def add(kind, pointer, message, where, op=None):
        found.append(Violation(kind, pointer, message, op.operationId if op else None, api_version,
                               where, method, path.split("?", 1)[0], line))

    op, params = store.find_operation(method, path, api_version)
    if op is None:
        add(*no_operation(store, method, path, api_version))
        return found
    check_path_parameters(store, op, params, lambda k, p, m: add(k, p, m, "path", op))
    check_request(store, op, exchange.get("requestBody"), lambda k, p, m: add(k, p, m, "request", op))
    if exchange.get("status") is not None:
        check_response(store, op, exchange["status"], exchange.get("responseBody"),
                       lambda k, p, m: add(k, p, m, "response", op))
    return found


def no_operation(store, method, path, api_version):
    """``(kind, pointer, message, where)`` for an exchange no operation matches."""
    bare = path.split("?", 1)[0]
    if method == "GET" and LRO_STATUS_PATH.search(bare):
        return ("lro-status", "", "operation status URL: not described by the specs", "exchange")
    if api_version not in store.api_versions():
        return ("no-operation", "", f"no pinned spec has api-version {api_version!r} "
                f"(pinned: {', '.join(store.api_versions())})", "exchange")
    return ("no-operation", "", f"no {method} operation at api-version {api_version} matches this path",
            "exchange")


def check_path_parameters(store, op, params, report):
    """Path parameter values against their declared pattern, length and enum."""
    checker = Checker(store, "request", report)
    for name, value in params.items():
        found = op.path_parameter(name)
        if found and found[1].get("type") == "string":
            checker.check_scalar(value, found[1], "/" + name)


def check_request(store, op, body, report):
    """The request body against the operation's body parameter."""
    found = op.body_parameter()
    if found is None:
        if body not in (None, {}, ""):
            report("body", "", "the operation takes no request body")
        return
    doc, parameter = found
    if body is None:
        if parameter.get("required"):
            report("required", "", f"the request body ('{parameter.get('name')}') is required")
        return
    Checker(store, "request", report).check(body, doc, parameter.get("schema", {}), "", nullable=False)


#: The error body for an error status of an operation that documents no ``default`` response.
#: ARM answers every error with ``{"error": {...}}``; DiskRP's hand-written 2024-03-02 documents
#: give no ``default`` at all, and the TypeSpec regeneration of that same api-version (later in
#: the specs repository) names Compute's CloudError, so that is what such errors are held to.
ERROR_FALLBACK = ("specification/compute/resource-manager/Microsoft.Compute/common-types/v1/common.json",
                  "#/definitions/CloudError")


def response_for(store, op, status):
    """``(doc, response)`` the operation documents for ``status``, or None.

    An error status falls back on ``default``, then on :data:`ERROR_FALLBACK`.
    """
    if str(status) in op.responses:
        return op.responses[str(status)]
    if int(status) < 400:
        return None
    if "default" in op.responses:
        return op.responses["default"]
    if store.has_file(ERROR_FALLBACK[0]):
        return ERROR_FALLBACK[0], {"description": "error", "schema": {"$ref": ERROR_FALLBACK[1]}}
    return None


def check_response(store, op, status, body, report):
    """The response status and body against the operation's responses."""
    found = response_for(store, op, status)
    if found is None:
        documented = ", ".join(sorted(op.responses))
        report("status", "", f"status {status} is not documented (documented: {documented})")
        return
    doc, response = found
    schema = response.get("schema")
    if schema is None:
        if body not in (None, "", {}):
            report("body", "", f"status {status} is documented without a body")
        return
    if body is None:
        report("body", "", f"status {status} is documented with a body; there was none")
        return
    Checker(store, "response", report).check(body, doc, schema, "", nullable=False)


def read_log(path):
    """``[(line number, exchange)]`` of a JSON-lines exchange log (blank lines skipped)."""
    exchanges = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if text.strip():
                exchanges.append((number, json.loads(text)))
    return exchanges


def validate_log(path, allow=(), store=None):
    """Every :class:`Violation` of the exchanges of the JSON-lines log at ``path``, less those of
    a kind in ``allow`` (kinds of :data:`KINDS`; an unknown one is a ValueError).

    ``store`` is the :class:`SpecStore` to check against (default: the specs :func:`find_specs`
    finds; :class:`SpecsNotFound` when there are none). The earlier form ``validate_log(store,
    path)`` is still accepted.
    """
    if hasattr(path, "find_operation"):      # validate_log(store, path), the earlier form
        store, path, allow = path, allow, ()
    return check_log(path, allow, store)[1]


def check_log(path, allow=(), store=None):
    """``(number of exchanges, violations)`` of the log at ``path``, as :func:`validate_log`."""
    allow = (allow,) if isinstance(allow, str) else tuple(allow)
    unknown = [kind for kind in allow if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind(s) of violation: {', '.join(unknown)}")
    store = SpecStore() if store is None else store
    exchanges = read_log(path)
    found = []
    for number, exchange in exchanges:
        found.extend(v for v in validate_exchange(store, exchange, line=number) if v.kind not in allow)
    return len(exchanges), found
