"""The emulator's ARM endpoint: sending requests, creating the resources examples need."""

import json
import re
import time
import urllib.error
import urllib.request

#: The operations `kiln emulator serve` serves (docs/emulator.md, "What it emulates").
SERVED = {
    "Disks_CreateOrUpdate", "Disks_Update", "Disks_Get", "Disks_Delete", "Disks_ListByResourceGroup",
    "Disks_List", "Disks_GrantAccess", "Disks_RevokeAccess",
    "Snapshots_CreateOrUpdate", "Snapshots_Update", "Snapshots_Get", "Snapshots_Delete",
    "Snapshots_ListByResourceGroup", "Snapshots_List", "Snapshots_GrantAccess", "Snapshots_RevokeAccess",
    "Images_CreateOrUpdate", "Images_Update", "Images_Get", "Images_Delete", "Images_ListByResourceGroup",
    "Images_List",
    "VirtualMachines_Get", "VirtualMachines_CreateOrUpdate", "VirtualMachines_Update",
    "VirtualMachines_AttachDetachDataDisks",
    "VirtualMachineImages_Get", "VirtualMachineImages_List", "VirtualMachineImages_ListPublishers",
    "VirtualMachineImages_ListOffers", "VirtualMachineImages_ListSkus",
    "Galleries_CreateOrUpdate", "Galleries_Update", "Galleries_Get", "Galleries_Delete",
    "Galleries_ListByResourceGroup", "Galleries_List",
    "GalleryImages_CreateOrUpdate", "GalleryImages_Update", "GalleryImages_Get", "GalleryImages_Delete",
    "GalleryImages_ListByGallery",
    "GalleryImageVersions_CreateOrUpdate", "GalleryImageVersions_Update", "GalleryImageVersions_Get",
    "GalleryImageVersions_Delete", "GalleryImageVersions_ListByGalleryImage",
    "ResourceGroups_CreateOrUpdate", "ResourceGroups_Get", "ResourceGroups_CheckExistence",
    "ResourceGroups_List", "Resources_List", "Resources_ListByResourceGroup", "Providers_Get",
}

API = {"disks": "2024-03-02", "snapshots": "2024-03-02", "diskEncryptionSets": "2024-03-02",
       "images": "2024-07-01",
       "virtualMachines": "2024-07-01", "galleries": "2024-03-03", "resourceGroups": "2021-04-01"}
COMPUTE_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/(.+)$", re.I)
SEEDABLE = {("disks",), ("snapshots",), ("diskEncryptionSets",), ("images",), ("virtualMachines",),
            ("galleries",),
            ("galleries", "images"), ("galleries", "images", "versions")}
CANONICAL_TYPES = {t.lower(): t for t in ("disks", "snapshots", "diskEncryptionSets", "images", "virtualMachines",
                                          "galleries",
                                          "versions")}


class Emulator:
    """The emulator's ARM endpoint: sends requests, creates resources the examples need."""

    def __init__(self, base_url, token, subscription, location, image, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.subscription = subscription
        self.location = location
        self.image = image            # (publisher, offer, sku, version)
        self.timeout = timeout
        self.seeded = set()
        self.template_refusals = {}   # resource id -> why the example's own resource was refused

    def send(self, method, path, body=None, headers=None):
        """``(status, parsed body or None, headers)`` of one request (errors are answers too)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, str(value))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, parse_body(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, parse_body(error.read()), dict(error.headers)

    def rg_id(self, rg):
        """The id of resource group ``rg``."""
        return f"/subscriptions/{self.subscription}/resourceGroups/{rg}"

    def ensure_resource_group(self, rg):
        """Create resource group ``rg`` (once)."""
        if ("rg", rg.lower()) in self.seeded:
            return
        status, body, _ = self.send("PUT", self.rg_id(rg) + "?api-version=2021-04-01", {"location": self.location})
        if status not in (200, 201):
            raise SeedError(f"resource group {rg}: {status} {error_text(body)}")
        self.seeded.add(("rg", rg.lower()))

    def ensure(self, resource_id, template=None):
        """Create the Microsoft.Compute resource ``resource_id`` (and its parents) unless there.

        ``template``, when given, is tried first as the body (the example's own resource); the
        small seed body is the fallback. Returns the body the resource was created with, or None.
        """
        match = COMPUTE_ID.match(resource_id)
        if not match or match.group(1).lower() != self.subscription.lower():
            return
        rg, rest = match.group(2), match.group(3).strip("/").split("/")
        types = tuple(CANONICAL_TYPES.get(t.lower(), t) for t in rest[0::2])
        if len(rest) % 2 or types not in SEEDABLE or ("id", resource_id.lower()) in self.seeded:
            return None
        self.ensure_resource_group(rg)
        if len(types) > 1:
            self.ensure(resource_id.rsplit("/", 2)[0])
        url = f"{resource_id}?api-version={API[types[0]]}"
        used = None
        if self.send("GET", url)[0] == 404:
            for body in ([template] if template else []) + [self.seed_body(rg, types, rest[-1])]:
                status, answer, _ = self.send("PUT", url, body)
                if status in (200, 201, 202):
                    used = body
                    break
                if body is template:
                    self.template_refusals[resource_id.lower()] = f"{status} {error_text(answer)}"
            else:
                raise SeedError(f"{resource_id}: {status} {error_text(answer)}")
            self.wait(resource_id, API[types[0]])
        self.seeded.add(("id", resource_id.lower()))
        return used

    def attach(self, vm_id, disk_ids):
        """Attach the disks ``disk_ids`` to the VM (so that an example can detach them)."""
        if not disk_ids:
            return
        for disk_id in disk_ids:
            self.ensure(disk_id)
        body = {"dataDisksToAttach": [{"diskId": d, "lun": 50 + i} for i, d in enumerate(disk_ids)]}
        status, answer, _ = self.send("POST", f"{vm_id}/attachDetachDataDisks?api-version={API['virtualMachines']}",
                                      body)
        if status not in (200, 202):
            raise SeedError(f"attach to {vm_id}: {status} {error_text(answer)}")
        self.wait(vm_id, API["virtualMachines"])

    def seed_body(self, rg, types, name):
        """A small body creating a resource of ``types`` (making its sources first)."""
        base = f"{self.rg_id(rg)}/providers/Microsoft.Compute"
        location = {"location": self.location}
        if types == ("disks",):
            # An OS disk of the generation the seeded image definitions have (V2), so that the
            # versions made from it (or its snapshot) pass Azure's generation check.
            return dict(location, properties={"creationData": {"createOption": "Empty"}, "diskSizeGB": 4,
                                              "osType": "Linux", "hyperVGeneration": "V2"})
        if types == ("diskEncryptionSets",):
            # The sets the examples name for their disks, images and versions (the emulator
            # refuses a set that does not exist, as Azure does).
            return dict(location, properties={"activeKey": {"keyUrl": "https://azspec.vault.azure.net/keys/k/1"}})
        source_disk = f"{base}/disks/azspec-source-disk"
        if types == ("snapshots",):
            self.ensure(source_disk)
            return dict(location, properties={"creationData": {"createOption": "Copy",
                                                               "sourceResourceId": source_disk}})
        if types == ("images",):
            self.ensure(source_disk)
            # With a data disk at LUN 1, as the gallery examples' images have.
            return dict(location, properties={"hyperVGeneration": "V2", "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Generalized", "managedDisk": {"id": source_disk}},
                "dataDisks": [{"lun": 1, "managedDisk": {"id": source_disk}}]}})
        if types == ("virtualMachines",):
            return dict(location, properties={"hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                                              "storageProfile": {"dataDisks": []}})
        if types == ("galleries",):
            return dict(location, properties={})
        if types == ("galleries", "images"):
            return dict(location, properties={
                "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
                "identifier": {"publisher": "azspec", "offer": "azspec", "sku": name}})
        snapshot = f"{base}/snapshots/azspec-source-snapshot"
        self.ensure(snapshot)
        return dict(location, properties={"storageProfile": {"osDiskImage": {"source": {"id": snapshot}}}})

    def wait(self, resource_id, api_version, limit=20.0):
        """Poll the resource until its provisioningState is no longer in progress."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            status, body, _ = self.send("GET", f"{resource_id}?api-version={api_version}")
            state = ((body or {}).get("properties") or {}).get("provisioningState") if status == 200 else None
            if state not in ("Creating", "Updating", "Accepted", "Running", "InProgress"):
                return
            time.sleep(0.2)


class SeedError(Exception):
    """A resource an example needs could not be created."""


def parse_body(data):
    """The parsed JSON of a response body (None when empty, the text when not JSON)."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def error_text(body):
    """``code: message`` of an ARM error body (else a short rendering of the body)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{body['error'].get('code')}: {body['error'].get('message')}"
    return json.dumps(body)[:200] if body is not None else ""
