"""Self-tests of azspec.py: formats and schema features (allOf, discriminator, x-nullable, ...)
on small schemas, without Azure's files (standard library unittest).

    python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
"""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402  (after the path set-up)
from azspec_fixtures import kinds  # noqa: E402


def synthetic_store(directory):
    """A SpecStore of a small spec written under ``directory`` (two files, one operation), with its
    own manifest: no need of Azure's files."""
    common = {"swagger": "2.0", "info": {"version": "1.0"}, "paths": {}, "definitions": {
        "Pet": {"type": "object", "discriminator": "kind", "required": ["kind", "name"],
                "properties": {"kind": {"type": "string"}, "name": {"type": "string"},
                               "id": {"type": "string", "readOnly": True}}}}}
    pets = {"swagger": "2.0", "info": {"version": "2020-01-01"}, "paths": {
        "/subscriptions/{subscriptionId}/providers/Test.RP/pets/{petName}": {"put": {
            "operationId": "Pets_CreateOrUpdate",
            "parameters": [{"name": "subscriptionId", "in": "path", "required": True, "type": "string"},
                           {"name": "petName", "in": "path", "required": True, "type": "string"},
                           {"name": "pet", "in": "body", "required": True,
                            "schema": {"$ref": "#/definitions/Envelope"}}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Envelope"}}}}}},
        "definitions": {
            "Envelope": {"properties": {
                "pet": {"$ref": "../common/common.json#/definitions/Pet"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "anything": {"type": "object", "additionalProperties": True,
                             "properties": {"known": {"type": "integer"}}},
                "freeForm": {"type": "object"},
                "nick": {"type": "string", "x-nullable": True},
                "age": {"type": "integer", "x-nullable": False},
                "flat": {"x-ms-client-flatten": True, "$ref": "#/definitions/Flat"}},
                "required": ["pet", "nick"]},
            "Flat": {"properties": {"inner": {"type": "boolean"}}},
            "Dog": {"x-ms-discriminator-value": "dog",
                    "allOf": [{"$ref": "../common/common.json#/definitions/Pet"}],
                    "properties": {"barks": {"type": "boolean"}}}}}
    files = {"specification/test/common/common.json": common,
             "specification/test/stable/pets.json": pets}
    for path, doc in files.items():
        os.makedirs(os.path.dirname(os.path.join(directory, path)), exist_ok=True)
        with open(os.path.join(directory, path), "w") as handle:
            json.dump(doc, handle)
    manifest = {"roots": [{"path": "specification/test/stable/pets.json", "apiVersion": "2020-01-01",
                           "exampleOperations": {}}],
                "files": {p: {} for p in files}}
    with open(os.path.join(directory, "manifest.json"), "w") as handle:
        json.dump(manifest, handle)
    return azspec.SpecStore(directory, manifest=os.path.join(directory, "manifest.json"))


class SyntheticStore(unittest.TestCase):
    """Tests over :func:`synthetic_store` (``self.store``)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.store = synthetic_store(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()


class FormatTests(SyntheticStore):
    """Formats the pinned specs do not all use (uuid, date, duration) and range, on inline schemas."""

    def check(self, value, schema):
        found = []
        azspec.Checker(self.store, "request", lambda k, p, m: found.append(k)).check(value, "inline.json", schema)
        return found

    def test_uuid(self):
        self.assertEqual(self.check("5f0cbb9e-7a8e-4d8f-9a6e-2f7f5c3a1b2d", {"type": "string", "format": "uuid"}), [])
        self.assertEqual(self.check("5f0cbb9e-7a8e-4d8f-9a6e", {"type": "string", "format": "uuid"}), ["format"])

    def test_date(self):
        self.assertEqual(self.check("2027-06-30", {"type": "string", "format": "date"}), [])
        self.assertEqual(self.check("2027-02-30", {"type": "string", "format": "date"}), ["format"])

    def test_date_time_accepts_rfc3339_forms(self):
        schema = {"type": "string", "format": "date-time"}
        for good in ("2026-12-06T10:00:00Z", "2026-12-06T10:00:00.1234567+00:00", "2016-12-31T23:59:60Z"):
            self.assertEqual(self.check(good, schema), [], good)

    def test_duration(self):
        self.assertEqual(self.check("PT1H30M", {"type": "string", "format": "duration"}), [])
        self.assertEqual(self.check("1h30m", {"type": "string", "format": "duration"}), ["format"])

    def test_range_length_and_pattern(self):
        self.assertEqual(self.check(0, {"type": "integer", "minimum": 1, "maximum": 3}), ["range"])
        self.assertEqual(self.check(4, {"type": "integer", "minimum": 1, "maximum": 3}), ["range"])
        self.assertEqual(self.check("", {"type": "string", "minLength": 1}), ["length"])
        self.assertEqual(self.check("é", {"type": "string", "pattern": r"^\w+$"}), ["pattern"])

    def test_integer_is_not_number_and_boolean_is_not_integer(self):
        self.assertEqual(self.check(1.5, {"type": "integer"}), ["type"])
        self.assertEqual(self.check(True, {"type": "integer"}), ["type"])
        self.assertEqual(self.check(2, {"type": "number"}), [])


class SchemaFeatureTests(SyntheticStore):
    """$ref across files, allOf, discriminator, additionalProperties, x-nullable, on a small spec."""

    def check(self, body, where="request"):
        exchange = {"method": "PUT", "path": "/subscriptions/s/providers/Test.RP/pets/rex",
                    "apiVersion": "2020-01-01", "requestBody": body if where == "request" else {
                        "pet": {"kind": "dog", "name": "rex"}, "nick": None},
                    "status": 200, "responseBody": body if where == "response" else None}
        found = azspec.validate_exchange(self.store, exchange)
        return kinds([v for v in found if v.where == where])

    def valid(self):
        return {"pet": {"kind": "dog", "name": "rex", "barks": True}, "nick": "r",
                "labels": {"a": "b"}, "anything": {"known": 1, "other": [1]}, "freeForm": {"x": {"y": 1}},
                "flat": {"inner": True}}

    def test_a_valid_body_passes(self):
        self.assertEqual(self.check(self.valid()), set())

    def test_discriminator_admits_the_derived_models_properties_only(self):
        body = self.valid()
        body["pet"]["kind"] = "cat"
        self.assertEqual(self.check(body), {("unknown-property", "request", "/pet/barks")})
        body["pet"] = {"kind": "dog", "name": "rex", "barks": "loud", "id": "x"}
        self.assertEqual(self.check(body), {("type", "request", "/pet/barks"), ("read-only", "request", "/pet/id")})

    def test_required_through_ref_and_all_of(self):
        body = self.valid()
        del body["pet"]["name"]
        self.assertEqual(self.check(body), {("required", "request", "/pet/name")})

    def test_additional_properties_schema_true_and_free_form(self):
        body = self.valid()
        body["labels"]["n"] = 1
        body["anything"]["known"] = "one"
        self.assertEqual(self.check(body), {("type", "request", "/labels/n"), ("type", "request", "/anything/known")})

    def test_x_nullable(self):
        body = self.valid()
        body["nick"] = None          # x-nullable: true, even though required
        body["labels"] = None        # optional, nullability unsaid: accepted
        self.assertEqual(self.check(body), set())
        body["age"] = None           # x-nullable: false
        self.assertEqual(self.check(body), {("type", "request", "/age")})

    def test_flatten_changes_nothing_on_the_wire(self):
        body = self.valid()
        body["inner"] = True         # the flattened client property is not a wire property
        self.assertEqual(self.check(body), {("unknown-property", "request", "/inner")})

    def test_read_only_is_expected_in_responses(self):
        body = self.valid()
        body["pet"]["id"] = "/pets/rex"
        self.assertEqual(self.check(body, where="response"), set())


if __name__ == "__main__":
    unittest.main()
