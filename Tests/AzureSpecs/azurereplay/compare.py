"""Comparing an answer with the example, and the result rows."""

import azurespec

from .emulator import error_text


def shape_differences(expected, got, pointer=""):
    """``(missing, extra, mistyped)`` pointers where ``got``'s shape departs from ``expected``'s."""
    missing, extra, mistyped = [], [], []
    if expected is None or got is None:
        return missing, extra, mistyped
    if azurespec.json_type(expected) != azurespec.json_type(got) and \
            {azurespec.json_type(expected), azurespec.json_type(got)} != {"integer", "number"}:
        return missing, extra, [f"{pointer or '/'}: {azurespec.json_type(expected)} → {azurespec.json_type(got)}"]
    if isinstance(expected, dict):
        for key, value in expected.items():
            where = azurespec.json_pointer(pointer, key)
            if key not in got:
                missing.append(where)
                continue
            sub = shape_differences(value, got[key], where)
            missing, extra, mistyped = missing + sub[0], extra + sub[1], mistyped + sub[2]
        extra += [azurespec.json_pointer(pointer, k) for k in got if k not in expected]
    elif isinstance(expected, list) and expected and got:
        sub = shape_differences(expected[0], got[0], azurespec.json_pointer(pointer, 0))
        missing, extra, mistyped = missing + sub[0], extra + sub[1], mistyped + sub[2]
    return missing, extra, mistyped


def reference_body(example, status, got_body):
    """The example body to compare ``got_body`` with: the same status's, else its 200/201's."""
    responses = example.data.get("responses", {})
    body = (responses.get(str(status)) or {}).get("body")
    if body is None and got_body is not None:
        for other in ("200", "201"):
            body = (responses.get(other) or {}).get("body")
            if body is not None:
                break
    return body


def present(body, pointer):
    """True when ``pointer`` names something in ``body`` (an array's pointer through item 0)."""
    node = body
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[0] if node else None
            if node is None:
                return False
        if not isinstance(node, dict) or token not in node:
            return False
        node = node[token]
    return True


def judge(example, status, got_body, violations, excepted, written=None):
    """The result row of one replayed example.

    ``written`` is what the client gave the emulator for this resource (the request body of a
    write, or the example's own resource a read was seeded with): a key of the example's answer
    missing from the emulator's answer although it was written is ``lost`` (a discrepancy); one
    that was not written is only ``missing`` (Azure computes it, or the seed lacked it).
    """
    expected = sorted(example.data.get("responses", {}))
    row = {"example": example.file, "operation": example.operation.operationId, "expected": expected,
           "got": status, "lost": [], "missing": [], "extra": [], "mistyped": [],
           "violations": [f"{v.kind} {v.where}{v.pointer}: {v.message}" for v in violations],
           "error": error_text(got_body) if status >= 400 else ""}
    if str(status) not in expected:
        row["verdict"] = "STATUS"
    else:
        reference = reference_body(example, status, got_body)
        missing, row["extra"], row["mistyped"] = shape_differences(reference, got_body)
        if reference is not None and got_body is None:
            missing = ["(the whole body)"]
        row["lost"] = [p for p in missing if written is not None and present(written, p)]
        row["missing"] = [p for p in missing if p not in row["lost"]]
        row["verdict"] = "SHAPE" if row["lost"] or row["mistyped"] else ("SPEC" if violations else "PASS")
    if excepted and row["verdict"] != "PASS":
        row["verdict"], row["reason"] = "EXCEPTED", excepted
    return row


def emulator_violations(store, example, exchange):
    """The spec violations of the emulator's answer: request-side ones are the example's own
    (test_azspec_pinned.py lists them), and so are those its documented response for the status shows."""
    own = set()
    for documented in example.exchanges():
        own.update((v.kind, v.pointer) for v in azurespec.validate_exchange(store, documented)
                   if v.where == "response")
    return [v for v in azurespec.validate_exchange(store, exchange)
            if v.where not in ("request", "path") and (v.kind, v.pointer) not in own]


def skip_row(example, reason):
    """A SKIP row."""
    return {"example": example.file, "operation": example.operation.operationId,
            "expected": sorted(example.data.get("responses", {})), "got": None, "lost": [], "missing": [],
            "extra": [],
            "mistyped": [], "violations": [], "error": "", "verdict": "SKIP", "reason": reason}
