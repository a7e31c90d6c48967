"""Checking a JSON value against a schema: models with ``allOf`` merged, and the walk."""

import copy
import dataclasses
import difflib
import json

from .formats import compile_pattern, format_problem
from .violations import json_pointer


def json_type(value):
    """The JSON type name of a Python value parsed from JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclasses.dataclass
class Property:
    """A property of a model: its schema (with the document it lives in) and flags."""

    doc: str
    schema: dict
    read_only: bool
    nullable: object      # True, False or None (not said)


@dataclasses.dataclass
class Model:
    """An object schema with ``allOf`` merged: what an object instance is checked against."""

    properties: dict
    required: set
    additional: object    # None (not declared), True/False, or (doc, schema)
    is_model: bool
    discriminator: str
    doc: str
    node: dict

    @classmethod
    def build(cls, store, doc, node):
        """Merge ``node``'s own properties with those of its ``allOf`` parents."""
        model = cls({}, set(), None, False, None, doc, node)
        model._merge(store, doc, node, set())
        return model

    def _merge(self, store, doc, node, seen):
        """Add ``node`` (and, first, its ``allOf`` parents) to this model."""
        doc, node = store.deref(doc, node)
        if (doc, id(node)) in seen:
            return
        seen.add((doc, id(node)))
        for parent in node.get("allOf", []):
            self._merge(store, doc, parent, seen)
        if "properties" in node or "allOf" in node:
            self.is_model = True
        for name, schema in node.get("properties", {}).items():
            self.properties[name] = Property(doc, schema, bool(schema.get("readOnly")),
                                             schema.get("x-nullable"))
        self.required.update(node.get("required", []))
        if "additionalProperties" in node:
            extra = node["additionalProperties"]
            self.additional = (doc, extra) if isinstance(extra, dict) else bool(extra)
        if node.get("discriminator") and not self.discriminator:
            self.discriminator = node["discriminator"]


class Checker:
    """Checks JSON values against schemas for one exchange's request or response."""

    def __init__(self, store, where, report):
        """``where`` is ``request`` or ``response``; ``report(kind, pointer, message)``."""
        self.store = store
        self.where = where
        self.report = report

    def check(self, value, doc, schema, pointer="", nullable=None):
        """Check ``value`` against ``schema`` (found in ``doc``) at ``pointer``."""
        if isinstance(schema, dict) and "$ref" in schema and nullable is None:
            nullable = schema.get("x-nullable")
        doc, schema = self.store.deref(doc, schema)
        if not isinstance(schema, dict):
            return
        if nullable is None:
            nullable = schema.get("x-nullable")
        if value is None:
            if not nullable:
                self.report("type", pointer, "null where the schema is not nullable")
            return
        expected = schema_type(self.store, doc, schema)
        if expected and not type_fits(value, expected):
            self.report("type", pointer, f"expected {expected}, got {json_type(value)}")
            return
        if isinstance(value, dict):
            self.check_object(value, doc, schema, pointer)
        elif isinstance(value, list):
            self.check_array(value, doc, schema, pointer)
        else:
            self.check_scalar(value, schema, pointer)

    def check_object(self, value, doc, schema, pointer):
        """Properties, required, additionalProperties and discriminator of an object."""
        model = self.store.model(doc, schema)
        model = self.discriminated(model, value, pointer)
        for name in sorted(model.required - set(value)):
            prop = model.properties.get(name)
            if self.where == "request" and prop and self.is_read_only(prop):
                continue
            self.report("required", json_pointer(pointer, name), f"required property '{name}' is missing")
        for name, item in value.items():
            where = json_pointer(pointer, name)
            prop = model.properties.get(name)
            if prop is not None:
                self.check_property(name, item, prop, model, where)
            elif isinstance(model.additional, tuple):
                self.check(item, model.additional[0], model.additional[1], where, nullable=None)
            elif model.is_model and model.additional is not True:
                self.report("unknown-property", where, unknown_message(name, model))

    def check_property(self, name, value, prop, model, pointer):
        """One declared property: read-only in requests, nullability, then its schema."""
        if self.where == "request" and self.is_read_only(prop):
            self.report("read-only", pointer, f"'{name}' is read-only: Azure sets it, a request may not")
            return
        if self.where == "response" and prop.schema.get("x-ms-secret"):
            self.report("secret", pointer, f"'{name}' is a secret (x-ms-secret): Azure does not return it")
            return
        nullable = prop.nullable
        if nullable is None and name not in model.required:
            nullable = True
        self.check(value, prop.doc, prop.schema, pointer, nullable=nullable)

    def is_read_only(self, prop):
        """True when the property, or the schema it refers to, is readOnly."""
        if prop.read_only:
            return True
        _, target = self.store.deref(prop.doc, prop.schema)
        return bool(isinstance(target, dict) and target.get("readOnly"))

    def discriminated(self, model, value, pointer):
        """The derived model that ``value``'s discriminator names, else ``model``."""
        if not model.discriminator or model.discriminator not in value:
            return model
        derived = self.store.derived_models(model.doc, model.node)
        chosen = derived.get(value[model.discriminator])
        if chosen is None:
            return model
        return self.store.model(*chosen)

    def check_array(self, value, doc, schema, pointer):
        """Length limits, uniqueness and every item."""
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.report("items", pointer, f"{len(value)} items, fewer than minItems {schema['minItems']}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.report("items", pointer, f"{len(value)} items, more than maxItems {schema['maxItems']}")
        if schema.get("uniqueItems"):
            seen = [json.dumps(v, sort_keys=True) for v in value]
            if len(set(seen)) != len(seen):
                self.report("items", pointer, "duplicate items where uniqueItems is true")
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                self.check(item, doc, items, json_pointer(pointer, index))

    def check_scalar(self, value, schema, pointer):
        """Enum, format, pattern, length and range of a string, number or boolean."""
        if "enum" in schema and not self.check_enum(value, schema, pointer):
            return
        fmt = schema.get("format")
        if fmt:
            problem = format_problem(value, fmt)
            if problem:
                self.report("format", pointer, problem)
        if isinstance(value, str):
            self.check_string(value, schema, pointer)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.check_number(value, schema, pointer)

    def check_enum(self, value, schema, pointer):
        """Report a value outside the enum; False when it is (so nothing more is said)."""
        allowed = schema["enum"]
        if value in allowed:
            return True
        listed = ", ".join(json.dumps(v) for v in allowed)
        if isinstance(value, str) and value.lower() in {str(v).lower() for v in allowed}:
            self.report("enum-case", pointer, f"{json.dumps(value)} differs in case from one of {listed}")
        elif (schema.get("x-ms-enum") or {}).get("modelAsString"):
            self.report("enum-extensible", pointer, f"{json.dumps(value)} is not one of {listed} (extensible enum)")
        else:
            self.report("enum", pointer, f"{json.dumps(value)} is not one of {listed}")
        return False

    def check_string(self, value, schema, pointer):
        """pattern, minLength and maxLength."""
        pattern = schema.get("pattern")
        if pattern:
            regex = compile_pattern(pattern)
            if regex is not None and not regex.search(value):
                self.report("pattern", pointer, f"{json.dumps(value)} does not match {pattern}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.report("length", pointer, f"length {len(value)} is below minLength {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.report("length", pointer, f"length {len(value)} is above maxLength {schema['maxLength']}")

    def check_number(self, value, schema, pointer):
        """minimum and maximum (with their exclusive forms)."""
        if "minimum" in schema:
            low, exclusive = schema["minimum"], schema.get("exclusiveMinimum")
            if value < low or (exclusive and value == low):
                self.report("range", pointer, f"{value} is below the minimum {low}")
        if "maximum" in schema:
            high, exclusive = schema["maximum"], schema.get("exclusiveMaximum")
            if value > high or (exclusive and value == high):
                self.report("range", pointer, f"{value} is above the maximum {high}")


def schema_type(store, doc, schema):
    """The JSON type a schema asks for: its ``type``, else ``object`` for a model, else None."""
    if "type" in schema:
        return schema["type"]
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    for parent in schema.get("allOf", []):
        found = schema_type(store, *store.deref(doc, parent))
        if found:
            return found
    return None


def type_fits(value, expected):
    """True when ``value`` is of the Swagger type ``expected``."""
    actual = json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "file":
        return True
    return actual == expected


def unknown_message(name, model):
    """The message for an unknown property, naming a close declared one when there is."""
    known = list(model.properties)
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return f"unknown property '{name}' (the model declares '{lowered[name.lower()]}', which differs in case)"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown property '{name}'{hint}"


def writable_part(store, doc, schema, value):
    """A copy of ``value`` without the properties its schema marks read-only (recursively).

    Turns a resource as Azure answers it into a body a client may send (replay.py uses it).
    """
    doc, schema = store.deref(doc, schema)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [writable_part(store, doc, schema["items"], v) for v in value]
    if not isinstance(value, dict):
        return copy.deepcopy(value)
    model = store.model(doc, schema)
    result = {}
    for name, item in value.items():
        prop = model.properties.get(name)
        if prop is not None:
            _, target = store.deref(prop.doc, prop.schema)
            if prop.read_only or (isinstance(target, dict) and target.get("readOnly")):
                continue
            result[name] = writable_part(store, prop.doc, prop.schema, item)
        elif isinstance(model.additional, tuple):
            result[name] = writable_part(store, model.additional[0], model.additional[1], item)
        else:
            result[name] = copy.deepcopy(item)
    return result
