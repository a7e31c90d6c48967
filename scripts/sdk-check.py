# Drives the emulator with the official Azure SDK for Python (azure-identity, azure-mgmt-compute):
# token, disks, VM, platform images, snapshot, attach/detach, image, deletes. Run by scripts/sdk-check.sh.
import json, os, sys
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m
ep = json.load(open(os.environ["EP"]))
base = ep.get("https") or ep["arm"]
cred = ClientSecretCredential(ep["tenantId"], ep["credential"]["clientId"], ep["credential"]["clientSecret"],
                              authority=base, disable_instance_discovery=True)
c = ComputeManagementClient(cred, ep["subscriptionId"], base_url=base, credential_scopes=["https://management.azure.com/.default"])
c._config.polling_interval = 0.2
rg = ep["builderVMId"].split("/")[4]
vmname = ep["builderVMId"].split("/")[-1]
d = c.disks.begin_create_or_update(rg, "sdk-disk", m.Disk(location=ep["location"], creation_data=m.CreationData(create_option="Empty"), disk_size_gb=1)).result()
print("disk", d.name, d.provisioning_state, d.disk_state)
vm = c.virtual_machines.get(rg, vmname); print("vm", vm.name, vm.hardware_profile.vm_size)
print("versions", [v.name for v in c.virtual_machine_images.list(ep["location"], "Canonical", "ubuntu-24_04-lts", "server")])
snap = c.snapshots.begin_create_or_update(rg, "sdk-snap", m.Snapshot(location=ep["location"], creation_data=m.CreationData(create_option="Copy", source_resource_id=d.id))).result()
print("snapshot", snap.name, snap.provisioning_state)
r = c.virtual_machines.begin_attach_detach_data_disks(rg, vmname, m.AttachDetachDataDisksRequest(data_disks_to_attach=[m.DataDisksToAttach(disk_id=d.id, lun=0)])).result()
print("attach result", type(r).__name__)
print("disk state", c.disks.get(rg, "sdk-disk").disk_state)
c.virtual_machines.begin_attach_detach_data_disks(rg, vmname, m.AttachDetachDataDisksRequest(data_disks_to_detach=[m.DataDisksToDetach(disk_id=d.id)])).result()
print("after detach", c.disks.get(rg, "sdk-disk").disk_state)
img = c.images.begin_create_or_update(rg, "sdk-image", m.Image(location=ep["location"], storage_profile=m.ImageStorageProfile(os_disk=m.ImageOSDisk(os_type="Linux", os_state="Generalized", snapshot=m.SubResource(id=snap.id))))).result()
print("image", img.name, img.provisioning_state)
c.images.begin_delete(rg, "sdk-image").result(); c.snapshots.begin_delete(rg, "sdk-snap").result(); c.disks.begin_delete(rg, "sdk-disk").result()
print("deleted; disk now:", [x.name for x in c.disks.list_by_resource_group(rg)])
