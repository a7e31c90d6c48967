"""The pinned specs: finding them, loading documents, resolving ``$ref``s, finding operations.

Azure's files are not in this repository (see README.md): :func:`find_specs` looks for a
directory holding their ``specification/`` tree, and ``manifest.json`` beside this package
(ours) says which files, at which commit, with which git blob ids (:func:`verify_specs`).
"""

import dataclasses
import hashlib
import json
import os
import posixpath
import re
import urllib.parse

from .schema import Model

#: This validator's directory (Tests/AzureSpecs): ``manifest.json``, and perhaps a local copy.
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Which files of Azure/azure-rest-api-specs are pinned, at which commit, with their blob ids.
MANIFEST = os.path.join(HERE, "manifest.json")
#: The environment variable naming a directory that holds ``specification/``.
ENV_VAR = "KILN_AZURE_SPECS"
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def spec_places(environ=None, here=HERE):
    """Where :func:`find_specs` looks, in order, as ``[(directory or None, how it is shown)]``.

    ``$KILN_AZURE_SPECS``; ``<repo>/../shared/azure-rest-api-specs``, the repository being the
    directory two levels above ``here``; ``here`` itself (a local copy, gitignored).
    """
    environ = os.environ if environ is None else environ
    here = os.path.abspath(here)
    chosen = environ.get(ENV_VAR)
    if chosen:
        chosen = os.path.abspath(os.path.expanduser(chosen))
        places = [(chosen, f"{os.path.join(chosen, 'specification')} (from ${ENV_VAR})")]
    else:
        places = [(None, f"${ENV_VAR} (unset)")]
    repository = os.path.dirname(os.path.dirname(here))
    shared = os.path.join(os.path.dirname(repository), "shared", "azure-rest-api-specs")
    for directory in (shared, here):
        places.append((directory, os.path.join(directory, "specification")))
    return places


def holds_specs(directory):
    """True when ``directory`` holds a ``specification/`` directory."""
    return bool(directory) and os.path.isdir(os.path.join(directory, "specification"))


def find_specs(environ=None, here=HERE):
    """The first place of :func:`spec_places` holding ``specification/``, or None.

    (A ``$KILN_AZURE_SPECS`` that holds none is passed over; the messages show it.)
    """
    for directory, _ in spec_places(environ, here):
        if holds_specs(directory):
            return directory
    return None


def absent_message(places=None):
    """Why there is nothing to check against: the places looked at, and where to read more."""
    places = spec_places() if places is None else places
    looked = ", ".join(label for _, label in places)
    return (f"Azure's REST API specifications are not on this machine (looked in {looked}); "
            f"see Tests/AzureSpecs/README.md")


def pinned_commit(manifest=MANIFEST):
    """The commit of Azure/azure-rest-api-specs that ``manifest`` pins (or a placeholder)."""
    try:
        with open(manifest, encoding="utf-8") as handle:
            return json.load(handle)["commit"]
    except (OSError, ValueError, KeyError):
        return "the commit manifest.json names"


class SpecsNotFound(FileNotFoundError):
    """No specs where :class:`SpecStore` looked; ``short`` is :func:`absent_message`."""

    def __init__(self, places=None, manifest=MANIFEST):
        self.places = spec_places() if places is None else places
        self.short = absent_message(self.places)
        shared = spec_places({})[1][0]
        super().__init__(
            f"{self.short}. To provide them, set {ENV_VAR} to a directory holding the pinned "
            f"specification/ subset, or place that subset under {shared}; pin.py rebuilds it from a "
            f"clone of https://github.com/Azure/azure-rest-api-specs at commit {pinned_commit(manifest)}.")


def locate_specs(specs_dir=None, manifest=MANIFEST):
    """``specs_dir`` (default: :func:`find_specs`) when it holds ``specification/``, else
    :class:`SpecsNotFound` naming where it looked."""
    if specs_dir is None:
        found = find_specs()
        if found is None:
            raise SpecsNotFound(manifest=manifest)
        return found
    if not holds_specs(specs_dir):
        raise SpecsNotFound([(specs_dir, os.path.join(specs_dir, "specification"))], manifest)
    return specs_dir


def git_blob_id(data):
    """Git's object id of a blob with these bytes (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def verify_specs(specs_dir, manifest=MANIFEST):
    """What is wrong with the copy at ``specs_dir`` against ``manifest`` (empty when nothing):
    files missing or differing from their git blob, and a missing LICENSE."""
    with open(manifest, encoding="utf-8") as handle:
        files = json.load(handle)["files"]
    problems = []
    for path, entry in files.items():
        try:
            with open(os.path.join(specs_dir, path), "rb") as handle:
                blob = git_blob_id(handle.read())
        except FileNotFoundError:
            problems.append(f"{path}: missing")
            continue
        if blob != entry["gitBlob"]:
            problems.append(f"{path}: git blob {blob}, pinned {entry['gitBlob']}")
    if not os.path.isfile(os.path.join(specs_dir, "LICENSE")):
        problems.append("LICENSE: missing (Azure's licence travels with its files)")
    return problems


@dataclasses.dataclass
class Operation:
    """One operation of a root document: ``doc`` is its repository path."""

    operationId: str
    apiVersion: str
    method: str
    template: str
    doc: str
    parameters: list      # [(doc, parameter)] with $refs resolved
    responses: dict       # status string -> (doc, response object)
    examples: dict        # title -> repository path of the example file
    segments: list = None

    def body_parameter(self):
        """``(doc, parameter)`` of the ``in: body`` parameter, or None."""
        for doc, parameter in self.parameters:
            if parameter.get("in") == "body":
                return doc, parameter
        return None

    def path_parameter(self, name):
        """``(doc, parameter)`` of the path parameter ``name``, or None."""
        for doc, parameter in self.parameters:
            if parameter.get("in") == "path" and parameter.get("name") == name:
                return doc, parameter
        return None


class SpecStore:
    """The pinned documents: loads them, resolves ``$ref``s, finds operations."""

    def __init__(self, specs_dir=None, manifest=MANIFEST):
        """``specs_dir`` holds ``specification/`` (default: :func:`find_specs`); ``manifest``
        names the root documents. :class:`SpecsNotFound` when there are no specs."""
        self.specs_dir = locate_specs(specs_dir, manifest)
        with open(manifest, encoding="utf-8") as handle:
            self.manifest = json.load(handle)
        self._docs = {}
        self._models = {}
        self._derived = None
        self.operations = []
        for root in self.manifest["roots"]:
            self.operations.extend(self._read_operations(root["path"], root["apiVersion"]))

    # documents and references

    def document(self, path):
        """The parsed document at repository path ``path`` (cached)."""
        if path not in self._docs:
            try:
                with open(os.path.join(self.specs_dir, path), encoding="utf-8") as handle:
                    self._docs[path] = json.load(handle)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"{path} is not in the specs at {self.specs_dir} (incomplete, or of another commit "
                    f"than {self.manifest.get('commit', 'the pinned one')}?)") from None
        return self._docs[path]

    def has_file(self, path):
        """True when the repository path ``path`` was pinned."""
        return os.path.isfile(os.path.join(self.specs_dir, path))

    def locate(self, doc, ref):
        """``(doc, node)`` that ``ref`` (written in ``doc``) points at."""
        file_part, _, fragment = ref.partition("#")
        target = doc
        if file_part:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(doc), file_part))
        node = self.document(target)
        for token in fragment.split("/")[1:] if fragment else []:
            token = urllib.parse.unquote(token).replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return target, node

    def deref(self, doc, node):
        """Follow ``$ref`` until a node without one; returns ``(doc, node)``."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            key = (doc, node["$ref"])
            if key in seen:
                raise ValueError(f"$ref cycle at {node['$ref']} in {doc}")
            seen.add(key)
            doc, node = self.locate(doc, node["$ref"])
        return doc, node

    def definition_name(self, doc, node):
        """The name under ``definitions`` of ``node`` in ``doc``, or None."""
        for name, value in self.document(doc).get("definitions", {}).items():
            if value is node:
                return name
        return None

    # operations

    def _read_operations(self, doc, api_version):
        """The operations of the root document ``doc``."""
        result = []
        for template, item in self.document(doc).get("paths", {}).items():
            shared = [self.deref(doc, p) for p in item.get("parameters", [])]
            for method, spec in item.items():
                if method not in HTTP_METHODS:
                    continue
                own = [self.deref(doc, p) for p in spec.get("parameters", [])]
                names = {(p.get("in"), p.get("name")) for _, p in own}
                parameters = own + [(d, p) for d, p in shared if (p.get("in"), p.get("name")) not in names]
                responses = {status: self.deref(doc, r) for status, r in spec.get("responses", {}).items()}
                examples = {title: posixpath.normpath(posixpath.join(posixpath.dirname(doc), e["$ref"]))
                            for title, e in spec.get("x-ms-examples", {}).items()}
                op = Operation(spec["operationId"], api_version, method.upper(), template, doc,
                               parameters, responses, examples)
                op.segments = self._template_segments(op)
                result.append(op)
        return result

    def _template_segments(self, op):
        """The template as ``[(kind, text)]``: ``literal``, ``param`` or ``rest`` (many segments)."""
        segments = []
        for part in op.template.strip("/").split("/"):
            match = re.fullmatch(r"\{([^}]+)\}", part)
            if not match:
                segments.append(("literal", part))
                continue
            found = op.path_parameter(match.group(1))
            multi = bool(found and found[1].get("x-ms-skip-url-encoding"))
            segments.append(("rest" if multi else "param", match.group(1)))
        return segments

    def api_versions(self):
        """The api-versions the pinned roots describe."""
        return sorted({op.apiVersion for op in self.operations})

    def find_operation(self, method, path, api_version):
        """``(operation, path parameters)`` for this request, or ``(None, None)``.

        Literal segments match case-insensitively; of several matches the one with the most
        literal segments (then the fewest many-segment parameters) wins.
        """
        parts = [urllib.parse.unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
        best, best_score, best_params = None, None, None
        for op in self.operations:
            if op.apiVersion != api_version or op.method != method.upper():
                continue
            params = match_segments(op.segments, parts)
            if params is None:
                continue
            literals = sum(1 for kind, _ in op.segments if kind == "literal")
            rests = sum(1 for kind, _ in op.segments if kind == "rest")
            score = (literals, -rests)
            if best_score is None or score > best_score:
                best, best_score, best_params = op, score, params
        return best, best_params

    def operation(self, operation_id, api_version=None):
        """The operation named ``operation_id`` (at ``api_version`` when given)."""
        for op in self.operations:
            if op.operationId == operation_id and api_version in (None, op.apiVersion):
                return op
        raise KeyError(operation_id)

    # models

    def model(self, doc, node):
        """The flattened view (:class:`Model`) of the schema ``node`` of ``doc`` (cached)."""
        doc, node = self.deref(doc, node)
        key = (doc, id(node))
        if key not in self._models:
            self._models[key] = Model.build(self, doc, node)
        return self._models[key]

    def derived_models(self, doc, node):
        """``{discriminator value: (doc, schema)}`` of the models deriving from ``node``."""
        if self._derived is None:
            self._derived = self._index_derived()
        return self._derived.get((doc, id(node)), {})

    def _index_derived(self):
        """Map each base model to its derived models, over every pinned document."""
        index = {}
        for path in self.manifest["files"]:
            if "/examples/" in path or not path.endswith(".json"):
                continue
            for name, schema in self.document(path).get("definitions", {}).items():
                for parent in schema.get("allOf", []) if isinstance(schema, dict) else []:
                    if "$ref" not in parent:
                        continue
                    base_doc, base = self.deref(path, parent)
                    value = schema.get("x-ms-discriminator-value", name)
                    index.setdefault((base_doc, id(base)), {})[value] = (path, schema)
        return index


def match_segments(template, parts):
    """Path parameters when ``parts`` fits ``template`` (see _template_segments), else None."""
    if not template:
        return {} if not parts else None
    (kind, text), rest = template[0], template[1:]
    if kind == "rest":
        for count in range(len(parts) - len(rest), 0, -1):
            found = match_segments(rest, parts[count:])
            if found is not None:
                found[text] = "/".join(parts[:count])
                return found
        return None
    if not parts or not parts[0]:
        return None
    if kind == "literal" and parts[0].lower() != text.lower():
        return None
    found = match_segments(rest, parts[1:])
    if found is not None and kind == "param":
        found[text] = parts[0]
    return found
