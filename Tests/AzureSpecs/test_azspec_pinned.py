"""Self-tests of azspec.py: the pinned files, Azure's own examples, finding the operation
(standard library unittest). They need Azure's files (README.md): skipped when absent.

    python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
"""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402  (after the path set-up)
from azspec_fixtures import (COMPUTE_API, DISK, DISK_API, GALLERY_API, RESOURCES_API, RG,  # noqa: E402
                             STORE, SUB, kinds, needs_specs)

#: Violations Azure's own pinned examples show, each with why it is the example's fault (or
#: the spec's way) rather than the validator's: (example file name, kind, where, pointer).
KNOWN_EXAMPLE_VIOLATIONS = {
    ("Snapshot_GetIncrementalSnapshot.json", "enum-extensible", "response", "/properties/networkAccessPolicy"):
        'the example writes "0" (a number as text), not one of the enum names',
    ("Snapshot_GetIncrementalSnapshot.json", "enum-extensible", "response", "/properties/diskState"):
        'the example writes "0" (a number as text), not one of the enum names',
    ("GalleryImageVersion_Create_WithAdditionalReplicaSets.json", "enum-extensible", "request",
     "/properties/publishingProfile/targetRegions/0/additionalReplicaSets/0/storageAccountType"):
        'typo in the example: "PreviumV2_LRS" for "PremiumV2_LRS"',
    ("GalleryImageVersion_Create_WithAdditionalReplicaSets.json", "enum-extensible", "response",
     "/properties/publishingProfile/targetRegions/0/additionalReplicaSets/0/storageAccountType"):
        'typo in the example: "PreviumV2_LRS" for "PremiumV2_LRS"',
    ("GalleryImageVersion_Create_WithTargetExtendedLocations.json", "enum-extensible", "response",
     "/properties/publishingProfile/targetExtendedLocations/0/storageAccountType"):
        'the example writes "StandardSSD_LRS(default)", a description rather than a value',
    ("GalleryImageVersion_Create_WithTargetExtendedLocations.json", "enum-extensible", "response",
     "/properties/publishingProfile/targetExtendedLocations/1/storageAccountType"):
        'the example writes "StandardSSD_LRS(default)", a description rather than a value',
}
for _name in ("VirtualMachine_Create_WithSecurityTypeConfidentialVM.json",
              "VirtualMachine_Create_WithSecurityTypeConfidentialVMWithCustomerManagedKeys.json",
              "VirtualMachine_Create_WithSecurityTypeConfidentialVMWithNonPersistedTPM.json"):
    for _where in ("request", "response"):
        KNOWN_EXAMPLE_VIOLATIONS[(_name, "enum-extensible", _where, "/properties/hardwareProfile/vmSize")] = (
            "vmSize's enum is a frozen, deprecated list (the spec says to use the List sizes APIs); "
            "a DC-series size beyond it is valid, which is what an extensible enum means")


@needs_specs
class PinnedSpecsTests(unittest.TestCase):
    """The pinned files are the ones the manifest names, unaltered."""

    def test_every_pinned_file_matches_its_git_blob(self):
        # whichever copy find_specs() found: manifest.json (ours) says what it must hold
        # (and the LICENSE beside them): see also test_azspec_location's git_blob_id test
        self.assertEqual(azspec.verify_specs(STORE.specs_dir), [], STORE.specs_dir)

    def test_every_ref_resolves(self):
        for path in STORE.manifest["files"]:
            if "/examples/" in path:
                continue
            for ref in _refs(STORE.document(path)):
                if "/examples/" in ref:
                    continue
                STORE.locate(path, ref)  # raises when the file or the definition is missing

    def test_the_api_versions_kiln_sends_are_pinned(self):
        self.assertEqual(STORE.api_versions(), sorted([DISK_API, COMPUTE_API, GALLERY_API, RESOURCES_API]))

    def test_every_example_of_the_selected_operations_is_pinned(self):
        for root in STORE.manifest["roots"]:
            for operation_id, files in root["exampleOperations"].items():
                op = STORE.operation(operation_id, root["apiVersion"])
                self.assertEqual(sorted(op.examples.values()), files)
                for file in files:
                    self.assertTrue(STORE.has_file(file), file)


def _refs(node):
    """Every ``$ref`` string under ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@needs_specs
class ExampleTests(unittest.TestCase):
    """Azure's own x-ms-examples pass, but for the listed, explained violations."""

    def test_pinned_examples_pass_but_for_the_known_violations(self):
        examples = azspec.pinned_examples(STORE)
        self.assertGreater(len(examples), 150)
        seen = set()
        for example in examples:
            exchanges = example.exchanges()
            self.assertTrue(exchanges, f"{example.file} has no responses")
            for exchange in exchanges:
                for v in azspec.validate_exchange(STORE, exchange):
                    key = (os.path.basename(example.file), v.kind, v.where, v.pointer)
                    with self.subTest(example=example.file, status=exchange["status"]):
                        self.assertIn(key, KNOWN_EXAMPLE_VIOLATIONS, v.message)
                    seen.add(key)
        self.assertEqual(set(KNOWN_EXAMPLE_VIOLATIONS) - seen, set(), "listed but no longer seen")

    def test_a_property_added_to_any_example_body_is_caught(self):
        for example in azspec.pinned_examples(STORE):
            for exchange in example.exchanges():
                for field, where in (("requestBody", "request"), ("responseBody", "response")):
                    body = exchange[field]
                    if not isinstance(body, dict):
                        continue
                    mutated = dict(exchange, **{field: dict(copy.deepcopy(body), zzNotInTheSpec=1)})
                    found = kinds(azspec.validate_exchange(STORE, mutated))
                    self.assertIn(("unknown-property", where, "/zzNotInTheSpec"), found, example.file)

    def test_each_example_finds_its_own_operation(self):
        for example in azspec.pinned_examples(STORE):
            op, _ = STORE.find_operation(example.operation.method, example.path(), example.operation.apiVersion)
            self.assertIs(op, example.operation, example.file)


@needs_specs
class MatchingTests(unittest.TestCase):
    """Finding the operation: case-insensitive literals, api-version, specificity."""

    def test_literal_segments_match_case_insensitively(self):
        op, params = STORE.find_operation("put", DISK.replace("resourceGroups", "RESOURCEGROUPS")
                                          .replace("Microsoft.Compute", "microsoft.compute"), DISK_API)
        self.assertEqual(op.operationId, "Disks_CreateOrUpdate")
        self.assertEqual(params["diskName"], "d1")

    def test_the_api_version_picks_the_document(self):
        op, _ = STORE.find_operation("GET", RG, RESOURCES_API)
        self.assertEqual(op.operationId, "ResourceGroups_Get")   # not the generic Resources_GetById
        self.assertIsNone(STORE.find_operation("GET", DISK, COMPUTE_API)[0])

    def test_no_operation(self):
        found = azspec.validate_exchange(STORE, {"method": "GET", "apiVersion": DISK_API, "status": 200,
                                                 "path": RG + "/providers/Microsoft.Compute/diskz/d1"})
        self.assertEqual(kinds(found), {("no-operation", "exchange", "")})
        found = azspec.validate_exchange(STORE, {"method": "GET", "path": DISK + "?api-version=2023-04-02",
                                                 "status": 200})
        self.assertEqual(kinds(found), {("no-operation", "exchange", "")})
        self.assertIn("2023-04-02", found[0].message)

    def test_operation_status_urls_are_their_own_kind(self):
        path = SUB + "/providers/Microsoft.Compute/locations/westus/DiskOperations/0b7e0c1a"
        found = azspec.validate_exchange(STORE, {"method": "GET", "path": path, "apiVersion": DISK_API,
                                                 "status": 200})
        self.assertEqual(kinds(found), {("lro-status", "exchange", "")})


if __name__ == "__main__":
    unittest.main()
