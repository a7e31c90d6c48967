"""The kinds of violation, the violation record, and JSON pointers into the bodies."""

import dataclasses

#: Every kind of violation, with what it means.
KINDS = {
    "no-operation": "no operation of the pinned specs matches the method, path and api-version",
    "lro-status": "a long-running-operation status URL (ARM does not describe them in Swagger)",
    "unknown-property": "a property the model does not declare (it allows no additionalProperties)",
    "read-only": "a readOnly property sent in a request",
    "secret": "an x-ms-secret property (a password, a key) in a response: Azure never returns them",
    "required": "a required property (or a required body) is missing",
    "type": "the JSON type differs from the schema's (or null where it is not nullable)",
    "enum": "a value outside a closed enum",
    "enum-extensible": "a value outside an extensible enum (x-ms-enum.modelAsString: true)",
    "enum-case": "an enum value that differs from a listed one only in case",
    "format": "a value not of its format (date-time, date, uuid, int32, int64, duration, byte)",
    "pattern": "a string that does not match the schema's pattern",
    "length": "a string shorter than minLength or longer than maxLength",
    "range": "a number below minimum or above maximum",
    "items": "an array with fewer than minItems or more than maxItems, or duplicates where uniqueItems",
    "status": "a status code the operation does not document (and not an error covered by default)",
    "body": "a body where the operation has none, or none where it requires one",
}


@dataclasses.dataclass
class Violation:
    """One way an exchange departs from the spec.

    ``where`` is ``request``, ``response``, ``path`` or ``exchange``; ``pointer`` is a JSON
    pointer (RFC 6901) into that body (or ``/{name}`` for a path parameter).
    """

    kind: str
    pointer: str
    message: str
    operationId: str = None
    apiVersion: str = None
    where: str = "exchange"
    method: str = None
    path: str = None
    line: int = None

    def to_dict(self):
        """The violation as a JSON-ready dict."""
        return dataclasses.asdict(self)


def json_pointer(parent, token):
    """``parent`` extended by ``token``, escaped as RFC 6901 requires."""
    return parent + "/" + str(token).replace("~", "~0").replace("/", "~1")
