# Drives the emulator's Blob service with the official Azure Storage SDK for Python
# (azure-storage-blob, pinned in scripts/sdk-check.sh): a storage-audience token, container,
# upload, conditional overwrite racing a stale ETag, download, listing, every lease action,
# deletes. Run by scripts/sdk-check.sh inside its loopback-only namespace.
import json, os, uuid
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient

ep = json.load(open(os.environ["EP"]))
https = ep["https"]
cred = ClientSecretCredential(ep["tenantId"], ep["credential"]["clientId"], ep["credential"]["clientSecret"],
                              authority=https, disable_instance_discovery=True)
svc = BlobServiceClient(account_url=https + "/blob/sdkaccount", credential=cred)
c = svc.create_container("fleet")
print("container", c.container_name, c.get_container_properties().etag)
try:
    svc.create_container("fleet"); raise SystemExit("a second create succeeded")
except ResourceExistsError as e:
    print("second create refused:", e.error_code)
b = c.get_blob_client("runs/journal.json")
first = b.upload_blob(b'{"step":1}')
print("uploaded", first["etag"])
b.upload_blob(b'{"step":2}', overwrite=True, etag=first["etag"], match_condition=MatchConditions.IfNotModified)
try:
    b.upload_blob(b'{"step":"stale"}', overwrite=True, etag=first["etag"], match_condition=MatchConditions.IfNotModified)
    raise SystemExit("a stale write succeeded")
except ResourceModifiedError as e:
    print("stale write refused:", e.error_code)
try:
    b.upload_blob(b"x"); raise SystemExit("an overwrite without overwrite=True succeeded")
except ResourceExistsError as e:
    print("create-only refused:", e.error_code)
print("downloaded", b.download_blob().readall())
for i in range(5):
    c.upload_blob(f"runs/r{i}", b"x")
names = [p.name for p in c.list_blobs(name_starts_with="runs/", results_per_page=2)]
print("listed", names)
assert names == ["runs/journal.json", "runs/r0", "runs/r1", "runs/r2", "runs/r3", "runs/r4"], names
lease = b.acquire_lease(lease_duration=15, lease_id=str(uuid.uuid4()))
print("lease", lease.id, b.get_blob_properties().lease.state)
try:
    b.upload_blob(b"no lease id", overwrite=True); raise SystemExit("a write without the lease id succeeded")
except HttpResponseError as e:
    print("write without lease refused:", e.error_code)
b.upload_blob(b'{"step":3}', overwrite=True, lease=lease)
lease.renew()
new_id = str(uuid.uuid4()); lease.change(new_id)
print("changed to", lease.id)
lease.release()
lease2 = b.acquire_lease(lease_duration=-1)
print("break time", lease2.break_lease(lease_break_period=0), b.get_blob_properties().lease.state)
b.delete_blob()
svc.delete_container("fleet")
print("deleted")
