"""Self-tests of replay.py's offline parts (no emulator needed). Those that need Azure's
examples (README.md) are skipped when they are absent.

    python3 -m unittest discover -s Tests/AzureSpecs -p 'test_*.py'
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402
import replay  # noqa: E402
from azspec_fixtures import STORE, needs_specs  # noqa: E402
from azurespec.cli import load_known, without_known  # noqa: E402
SUB = "11111111-1111-1111-1111-111111111111"


def emulator():
    """An Emulator object that is never asked to send anything."""
    return replay.Emulator("http://127.0.0.1:1", "token", SUB, "westus",
                           ("Canonical", "ubuntu-24_04-lts", "server", "24.04.202501010"))


def example(name):
    """The pinned example whose file is ``name``."""
    return next(e for e in azspec.pinned_examples(STORE) if os.path.basename(e.file) == name)


class RewriteTests(unittest.TestCase):
    """Examples are rewritten into the emulator's subscription, group, location and image."""

    def test_ids_with_and_without_leading_slash_and_placeholders(self):
        em = emulator()
        text = "subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/disks/myDisk"
        self.assertEqual(replay.rewrite_string(text, em, "azspec-001"),
                         f"subscriptions/{SUB}/resourceGroups/azspec-001/providers/Microsoft.Compute/disks/myDisk")
        text = "/subscriptions/{subscriptionId}/resourceGroups/rg/providers/Microsoft.Compute/galleries/{galleryName}" \
               "/images/{imageDefinitionName}/versions/{versionName}"
        self.assertTrue(replay.rewrite_string(text, em, "g").endswith(
            "/galleries/galleryName/images/imageDefinitionName/versions/1.0.0"))

    def test_platform_image_ids_point_at_the_emulators_image(self):
        text = ("/Subscriptions/{subscriptionId}/Providers/Microsoft.Compute/Locations/uswest/Publishers/"
                "Microsoft/ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku}/Versions/1.0.0")
        rewritten = replay.rewrite_string(text, emulator(), "rg")
        self.assertIn("/locations/westus/publishers/Canonical/artifactTypes/vmimage/offers/ubuntu-24_04-lts"
                      "/skus/server/versions/24.04.202501010", rewritten)

    @needs_specs
    def test_a_disk_example_becomes_a_request_to_the_emulator(self):
        method, path, body, _ = replay.build_request(example("Disk_Create_Empty.json"), emulator(), "azspec-024")
        self.assertEqual(method, "PUT")
        self.assertEqual(path, f"/subscriptions/{SUB}/resourceGroups/azspec-024/providers/Microsoft.Compute/disks"
                               "/myDisk?api-version=2024-03-02")
        self.assertEqual(body["location"], "westus")


class JudgeTests(unittest.TestCase):
    """Status, lost and missing keys, types."""

    def test_shape_differences(self):
        expected = {"a": 1, "b": {"c": "x", "d": [{"e": True}]}, "f": "s"}
        got = {"a": 2.5, "b": {"c": 3, "d": [{}]}, "g": 1}
        missing, extra, mistyped = replay.shape_differences(expected, got)
        self.assertEqual(missing, ["/b/d/0/e", "/f"])
        self.assertEqual(extra, ["/g"])
        self.assertEqual(mistyped, ["/b/c: string → integer"])

    @needs_specs
    def test_a_key_written_but_not_answered_is_lost(self):
        ex = example("Gallery_Create_WithManagedIdentity.json")
        written = {"identity": {"type": "SystemAssigned"}, "properties": {}}
        answer = {"id": "/x", "name": "myGalleryName", "type": "Microsoft.Compute/galleries", "location": "westus",
                  "properties": {"description": "d", "identifier": {"uniqueName": "u"},
                                 "provisioningState": "Succeeded"}}
        row = replay.judge(ex, 201, answer, [], None, written)
        self.assertEqual(row["verdict"], "SHAPE")
        self.assertEqual(row["lost"], ["/identity"])

    @needs_specs
    def test_an_undocumented_status_and_an_exception(self):
        ex = example("Disk_Create_UploadDisk.json")
        error = {"error": {"code": "InvalidParameter", "message": "no"}}
        self.assertEqual(replay.judge(ex, 400, error, [], None)["verdict"], "STATUS")
        self.assertEqual(replay.judge(ex, 400, error, [], "not emulated")["verdict"], "EXCEPTED")

    @needs_specs
    def test_what_real_azure_itself_answers_is_not_held_against_the_emulator(self):
        ex = example("VirtualMachineImage_Get_MinimumSet_Gen.json")
        sent = next(iter(ex.exchanges()))
        answer = {"name": "1.0.0", "location": "westus", "id": "/x",
                  "properties": {"replicaType": "Managed", "osDiskImage": {"operatingSystem": "Linux"}}}
        exchange = dict(sent, status=200, responseBody=answer)
        violations = replay.emulator_violations(STORE, ex, exchange)
        self.assertEqual([v.pointer for v in violations], ["/properties/replicaType"])
        known = load_known(os.path.join(replay.HERE, "known-differences.json"))
        self.assertEqual(without_known(violations, known), [])
        answer["properties"]["madeUp"] = 1
        left = without_known(replay.emulator_violations(STORE, ex, exchange), known)
        self.assertEqual([v.pointer for v in left], ["/properties/madeUp"])


@needs_specs
class ExceptionsFileTests(unittest.TestCase):
    """replay-exceptions.json names pinned examples of served operations, each with a reason."""

    def test_every_exception_names_a_served_pinned_example(self):
        served = {os.path.basename(e.file) for e in azspec.pinned_examples(STORE)
                  if e.operation.operationId in replay.SERVED}
        exceptions = replay.load_exceptions(os.path.join(replay.HERE, "replay-exceptions.json"))
        self.assertTrue(exceptions)
        for name, reason in exceptions.items():
            self.assertIn(name, served)
            self.assertTrue(reason.strip())

    def test_served_operations_are_pinned(self):
        pinned = {op.operationId for op in STORE.operations}
        self.assertEqual(replay.SERVED - pinned, set())


if __name__ == "__main__":
    unittest.main()
