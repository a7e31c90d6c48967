"""Azure's pinned ``x-ms-examples``, as exchanges."""

import dataclasses
import urllib.parse

from .specs import Operation


@dataclasses.dataclass
class Example:
    """A pinned ``x-ms-examples`` file of an operation."""

    operation: Operation
    title: str
    file: str             # repository path
    data: dict

    def path(self):
        """The request path, the template filled with the example's parameters."""
        parameters = self.data.get("parameters", {})
        parts = []
        for kind, text in self.operation.segments:
            if kind == "literal":
                parts.append(text)
            elif kind == "rest":
                parts.append(str(parameters.get(text, "")).strip("/"))
            else:
                parts.append(urllib.parse.quote(str(parameters.get(text, "")), safe=""))
        return "/" + "/".join(parts)

    def request_body(self):
        """The example's request body, or None when the operation takes none."""
        found = self.operation.body_parameter()
        if found is None:
            return None
        return self.data.get("parameters", {}).get(found[1]["name"])

    def exchanges(self):
        """One exchange per documented response of the example."""
        result = []
        for status, response in sorted(self.data.get("responses", {}).items()):
            result.append({"method": self.operation.method, "path": self.path(),
                           "apiVersion": self.operation.apiVersion,
                           "requestBody": self.request_body(), "status": int(status),
                           "responseBody": response.get("body")})
        return result


def pinned_examples(store):
    """Every pinned example of the operations the manifest selected, as :class:`Example`."""
    result = []
    for root in store.manifest["roots"]:
        for operation_id in root["exampleOperations"]:
            op = store.operation(operation_id, root["apiVersion"])
            for title, file in sorted(op.examples.items()):
                result.append(Example(op, title, file, store.document(file)))
    return result
