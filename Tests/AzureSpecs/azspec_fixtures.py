"""What the self-tests (test_*.py) share: the pinned store, ids, disk bodies.

Not a test module itself (the discovery pattern is ``test_*.py``). Azure's files are not in this
repository: ``STORE`` is None when ``azspec.find_specs()`` finds none, and the tests that need
them are marked ``@needs_specs`` (skipped, with ``NO_SPECS`` as the reason).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import azspec  # noqa: E402  (after the path set-up)

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
RG = SUB + "/resourceGroups/kiln-rg"
DISK = RG + "/providers/Microsoft.Compute/disks/d1"
VM = RG + "/providers/Microsoft.Compute/virtualMachines/kiln-builder"
DISK_API, COMPUTE_API, GALLERY_API, RESOURCES_API = "2024-03-02", "2024-07-01", "2024-03-03", "2021-04-01"

#: The directory holding Azure's ``specification/``, or None.
SPECS = azspec.find_specs()
#: Why the tests needing Azure's files are skipped (None when they are here).
NO_SPECS = None if SPECS else azspec.absent_message()
#: The store of the pinned specs, or None.
STORE = azspec.SpecStore(SPECS) if SPECS else None
#: Skips a test (or a class of them) that needs Azure's files when they are not on this machine.
needs_specs = unittest.skipUnless(SPECS, NO_SPECS or "")


def disk_put(body, status=None, response=None):
    """An exchange creating disk d1 at DiskRP 2024-03-02 (no response checked without status)."""
    return {"method": "PUT", "path": DISK, "apiVersion": DISK_API, "requestBody": body,
            "status": status, "responseBody": response}


def empty_disk():
    """A valid request body for an empty 32 GiB disk."""
    return {"location": "westus", "sku": {"name": "Premium_LRS"},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 32}}


def disk_response():
    """A valid disk resource as Azure answers it."""
    return {"id": DISK, "name": "d1", "type": "Microsoft.Compute/disks", "location": "westus",
            "sku": {"name": "Premium_LRS", "tier": "Premium"},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 32,
                           "timeCreated": "2026-12-06T10:00:00.1234567+00:00",
                           "provisioningState": "Succeeded", "diskState": "Unattached",
                           "uniqueId": "5f0cbb9e-7a8e-4d8f-9a6e-2f7f5c3a1b2d"}}


def kinds(violations):
    """``{(kind, where, pointer)}`` of a list of violations."""
    return {(v.kind, v.where, v.pointer) for v in violations}
