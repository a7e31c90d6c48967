"""Self-tests of azspec.py: each kind of violation, in requests and responses, on real
operations (standard library unittest). They need Azure's files (README.md): skipped when absent.

    python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402  (after the path set-up)
from azspec_fixtures import (COMPUTE_API, DISK, DISK_API, RESOURCES_API, RG, STORE, SUB, VM, disk_put, disk_response,
                             empty_disk, kinds, needs_specs)  # noqa: E402


@needs_specs
class RequestViolationTests(unittest.TestCase):
    """Each kind of violation, caught on real operations of the pinned specs."""

    def check(self, exchange):
        return kinds(azspec.validate_exchange(STORE, exchange))

    def test_a_valid_disk_put_passes(self):
        self.assertEqual(self.check(disk_put(empty_disk(), 202, disk_response())), set())

    def test_unknown_property_typo(self):
        body = empty_disk()
        body["properties"]["diskSizeGb"] = body["properties"].pop("diskSizeGB")
        body["properties"]["burstingEnabeld"] = True
        found = azspec.validate_exchange(STORE, disk_put(body))
        self.assertEqual(kinds(found), {("unknown-property", "request", "/properties/diskSizeGb"),
                                        ("unknown-property", "request", "/properties/burstingEnabeld")})
        messages = " ".join(v.message for v in found)
        self.assertIn("'diskSizeGB', which differs in case", messages)
        self.assertIn("did you mean 'burstingEnabled'", messages)
        self.assertEqual({v.operationId for v in found}, {"Disks_CreateOrUpdate"})
        self.assertEqual({v.apiVersion for v in found}, {DISK_API})

    def test_read_only_sent(self):
        body = empty_disk()
        body["id"] = DISK
        body["properties"]["provisioningState"] = "Succeeded"
        body["properties"]["creationData"]["sourceUniqueId"] = "x"
        self.assertEqual(self.check(disk_put(body)), {
            ("read-only", "request", "/id"),
            ("read-only", "request", "/properties/provisioningState"),
            ("read-only", "request", "/properties/creationData/sourceUniqueId")})

    def test_required_missing(self):
        body = empty_disk()
        del body["location"]
        del body["properties"]["creationData"]
        self.assertEqual(self.check(disk_put(body)), {
            ("required", "request", "/location"), ("required", "request", "/properties/creationData")})

    def test_required_body_missing(self):
        self.assertEqual(self.check(disk_put(None, 400, {"error": {"code": "InvalidRequestContent",
                                                                     "message": "no body"}})),
                         {("required", "request", "")})

    def test_wrong_type(self):
        body = empty_disk()
        body["properties"]["diskSizeGB"] = "32"
        body["tags"] = {"kiln": 1}
        self.assertEqual(self.check(disk_put(body)), {
            ("type", "request", "/properties/diskSizeGB"), ("type", "request", "/tags/kiln")})

    def test_closed_enum(self):
        body = empty_disk()
        body["properties"]["osType"] = "Unix"
        self.assertEqual(self.check(disk_put(body)), {("enum", "request", "/properties/osType")})

    def test_extensible_enum(self):
        body = empty_disk()
        body["sku"]["name"] = "Premium_XRS"
        found = azspec.validate_exchange(STORE, disk_put(body))
        self.assertEqual(kinds(found), {("enum-extensible", "request", "/sku/name")})

    def test_enum_differing_in_case(self):
        body = empty_disk()
        body["properties"]["osType"] = "linux"
        self.assertEqual(self.check(disk_put(body)), {("enum-case", "request", "/properties/osType")})

    def test_int32_range(self):
        body = empty_disk()
        body["properties"]["diskSizeGB"] = 2 ** 31
        self.assertEqual(self.check(disk_put(body)), {("format", "request", "/properties/diskSizeGB")})

    def test_min_items(self):
        exchange = {"method": "POST", "path": VM + "/attachDetachDataDisks", "apiVersion": COMPUTE_API,
                    "requestBody": {"dataDisksToAttach": []}, "status": 202, "responseBody": None}
        self.assertEqual(self.check(exchange), {("items", "request", "/dataDisksToAttach")})

    def test_path_parameter_pattern_and_length(self):
        bad = {"method": "PUT", "path": SUB + "/resourcegroups/bad%20name!", "apiVersion": RESOURCES_API,
               "requestBody": {"location": "westus"}, "status": 201, "responseBody": None}
        self.assertEqual(self.check(bad), {("pattern", "path", "/resourceGroupName"),
                                           ("body", "response", "")})
        long = dict(bad, path=SUB + "/resourcegroups/" + "r" * 91, status=400,
                    responseBody={"error": {"code": "InvalidResourceGroup", "message": "too long"}})
        self.assertEqual(self.check(long), {("length", "path", "/resourceGroupName")})

    def test_body_where_the_operation_takes_none(self):
        exchange = {"method": "GET", "path": DISK, "apiVersion": DISK_API, "requestBody": {"x": 1},
                    "status": 200, "responseBody": disk_response()}
        self.assertEqual(self.check(exchange), {("body", "request", "")})


@needs_specs
class ResponseViolationTests(unittest.TestCase):
    """Responses: read-only expected, required, formats, status codes, default on errors."""

    def get(self, body, status=200):
        return kinds(azspec.validate_exchange(STORE, {"method": "GET", "path": DISK, "apiVersion": DISK_API,
                                                      "status": status, "responseBody": body}))

    def test_read_only_properties_are_expected_in_responses(self):
        self.assertEqual(self.get(disk_response()), set())

    def test_required_missing_in_response(self):
        body = disk_response()
        del body["location"]
        self.assertEqual(self.get(body), {("required", "response", "/location")})

    def test_bad_date_time(self):
        for bad in ("2026-12-06 10:00:00", "2026-12-06T10:00:00", "2026-13-06T10:00:00Z", "yesterday"):
            body = disk_response()
            body["properties"]["timeCreated"] = bad
            self.assertEqual(self.get(body), {("format", "response", "/properties/timeCreated")}, bad)

    def test_secret_in_response(self):
        vm = {"id": VM, "name": "kiln-builder", "type": "Microsoft.Compute/virtualMachines", "location": "westus",
              "properties": {"osProfile": {"computerName": "kiln-builder", "adminUsername": "kiln",
                                           "adminPassword": "Sup3r-secret"}}}
        exchange = {"method": "GET", "path": VM, "apiVersion": COMPUTE_API, "status": 200, "responseBody": vm}
        self.assertEqual(kinds(azspec.validate_exchange(STORE, exchange)),
                         {("secret", "response", "/properties/osProfile/adminPassword")})
        request = {"location": "westus", "properties": {"osProfile": {"adminPassword": "Sup3r-secret"}}}
        put = {"method": "PUT", "path": VM, "apiVersion": COMPUTE_API, "requestBody": request}
        self.assertEqual(kinds(azspec.validate_exchange(STORE, put)), set())

    def test_writable_part_drops_read_only_properties(self):
        op = STORE.operation("Disks_CreateOrUpdate", DISK_API)
        doc, parameter = op.body_parameter()
        body = azspec.writable_part(STORE, doc, parameter["schema"], disk_response())
        self.assertEqual(set(body), {"location", "sku"} | {"properties"})
        self.assertEqual(set(body["properties"]), {"creationData", "diskSizeGB"})
        self.assertEqual(kinds(azspec.validate_exchange(STORE, disk_put(body))), set())

    def test_unknown_property_in_response(self):
        body = disk_response()
        body["systemData"] = {"createdBy": "kiln"}
        self.assertEqual(self.get(body), {("unknown-property", "response", "/systemData")})

    def test_null_for_an_optional_property_is_accepted(self):
        body = disk_response()
        body["managedBy"] = None
        self.assertEqual(self.get(body), set())

    def test_undocumented_status(self):
        self.assertEqual(self.get(disk_response(), status=201), {("status", "response", "")})

    def test_errors_use_the_default_response(self):
        error = {"error": {"code": "ResourceNotFound", "message": "no such disk", "target": "d1"}}
        self.assertEqual(self.get(error, status=404), set())
        error["error"]["extra"] = True
        self.assertEqual(self.get(error, status=404), {("unknown-property", "response", "/error/extra")})

    def test_a_list_response(self):
        exchange = {"method": "GET", "path": RG + "/providers/Microsoft.Compute/disks", "apiVersion": DISK_API,
                    "status": 200, "responseBody": {"value": [disk_response(), {"location": 3}]}}
        self.assertEqual(kinds(azspec.validate_exchange(STORE, exchange)), {("type", "response", "/value/1/location")})

    def test_platform_image_versions_are_a_bare_array(self):
        path = (SUB + "/providers/Microsoft.Compute/locations/westus/publishers/Canonical/artifacttypes/vmimage"
                "/offers/ubuntu-24_04-lts/skus/server/versions")
        good = [{"name": "24.04.202501010", "location": "westus",
                 "id": path[len(""):] + "/24.04.202501010"}]
        exchange = {"method": "GET", "path": path + "?api-version=" + COMPUTE_API, "status": 200,
                    "responseBody": good}
        self.assertEqual(kinds(azspec.validate_exchange(STORE, exchange)), set())
        exchange["responseBody"] = {"value": good}
        self.assertEqual(kinds(azspec.validate_exchange(STORE, exchange)), {("type", "response", "")})


if __name__ == "__main__":
    unittest.main()
