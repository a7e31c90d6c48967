"""Rewriting an example into the emulator's names, and creating what its request needs."""

import copy
import re
import urllib.parse

import azurespec

RG_IN_ID = re.compile(r"(?:^|(?<=/))subscriptions/[^/]+/resourceGroups/[^/]+", re.I)
SUB_IN_ID = re.compile(r"(?:^|(?<=/))subscriptions/[^/]+", re.I)
PLACEHOLDER = re.compile(r"\{([^}]*)\}")
LOCATION_IN_ID = re.compile(r"/locations/[^/]+", re.I)
IMAGE_IN_ID = re.compile(r"/publishers/[^/]+/artifactTypes/vmimage/offers/[^/]+/skus/[^/]+/versions/[^/]+", re.I)


def rewrite_string(text, emulator, rg):
    """Point the ids in ``text`` at the emulator's subscription, ``rg``, location and image.

    A ``{placeholder}`` left in an id becomes a name (``{galleryName}`` → ``galleryName``); an
    id written without its leading slash keeps that form.
    """
    text = RG_IN_ID.sub(lambda m: emulator.rg_id(rg).lstrip("/"), text)
    # The gallery examples name `Microsoft.Compute/diskEncryptionSet/…` (singular, no such
    # type); the emulator, as Azure, refuses a set that does not exist, so they name the real one.
    text = re.sub(r"(?i)/Microsoft\.Compute/diskEncryptionSet/", "/Microsoft.Compute/diskEncryptionSets/", text)
    text = SUB_IN_ID.sub(f"subscriptions/{emulator.subscription}", text)
    text = re.sub(r"(?i)(/versions/)\{[^}]*\}", r"\g<1>1.0.0", text)
    text = PLACEHOLDER.sub(lambda m: re.sub(r"[^A-Za-z0-9]", "", m.group(1)) or "x", text)
    if "/publishers/" in text.lower():
        publisher, offer, sku, version = emulator.image
        text = LOCATION_IN_ID.sub(f"/locations/{emulator.location}", text)
        text = IMAGE_IN_ID.sub(f"/publishers/{publisher}/artifactTypes/vmimage/offers/{offer}"
                               f"/skus/{sku}/versions/{version}", text)
    return text


def rewrite_body(body, emulator, rg):
    """A copy of ``body`` with every id rewritten and the top-level location the emulator's."""
    def walk(node):
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and node.lower().startswith(("/subscriptions/", "subscriptions/")):
            return rewrite_string(node, emulator, rg)
        return node
    result = walk(copy.deepcopy(body))
    if isinstance(result, dict) and "location" in result:
        result["location"] = emulator.location
    return result


def example_parameters(example, emulator, rg):
    """The example's parameters with subscription, resource group, location and image replaced."""
    params = dict(example.data.get("parameters", {}))
    params["subscriptionId"] = emulator.subscription
    if "resourceGroupName" in params:
        params["resourceGroupName"] = rg
    if "location" in params:
        params["location"] = emulator.location
    for name, value in params.items():
        if isinstance(value, str) and name != "subscriptionId":
            params[name] = PLACEHOLDER.sub(lambda m: re.sub(r"[^A-Za-z0-9]", "", m.group(1)) or "x", value)
    publisher, offer, sku, version = emulator.image
    for name, value in (("publisherName", publisher), ("offer", offer), ("skus", sku), ("version", version)):
        if name in params:
            params[name] = value
    return params


def build_request(example, emulator, rg):
    """``(method, path with query, body, headers)`` of the example rewritten for the emulator."""
    op = example.operation
    params = example_parameters(example, emulator, rg)
    rewritten = azurespec.Example(op, example.title, example.file, dict(example.data, parameters=params))
    query, headers = {"api-version": op.apiVersion}, {}
    for _, parameter in op.parameters:
        name = parameter.get("name")
        if parameter.get("in") == "query" and name in params and name != "api-version":
            query[name] = params[name]
        elif parameter.get("in") == "header" and name in params:
            headers[name] = params[name]
    body = rewritten.request_body()
    if body is not None:
        body = rewrite_body(body, emulator, rg)
    path = rewritten.path() + "?" + urllib.parse.urlencode(query)
    return op.method, path, body, headers


def referenced_ids(body):
    """Every string in ``body`` that looks like a resource id."""
    if isinstance(body, dict):
        for value in body.values():
            yield from referenced_ids(value)
    elif isinstance(body, list):
        for value in body:
            yield from referenced_ids(value)
    elif isinstance(body, str) and body.lower().startswith(("/subscriptions/", "subscriptions/")):
        yield "/" + body.lstrip("/")


def seed_template(store, example, emulator, rg, item_path):
    """The writable part of the example's own 200 answer (for a list: its first item), as a
    body creating the resource the example reads; None when there is none."""
    answer = (example.data.get("responses", {}).get("200") or {}).get("body")
    if isinstance(answer, dict) and isinstance(answer.get("value"), list):
        answer = answer["value"][0] if answer["value"] else None
    op, _ = store.find_operation("PUT", item_path, example.operation.apiVersion)
    if not isinstance(answer, dict) or op is None or op.body_parameter() is None:
        return None
    doc, parameter = op.body_parameter()
    body = rewrite_body(azurespec.writable_part(store, doc, parameter["schema"], answer), emulator, rg)
    body = without_violations(store, op, item_path, body)
    storage = (body.get("properties") or {}).get("storageProfile")
    if op.operationId == "VirtualMachines_CreateOrUpdate" and isinstance(storage, dict):
        storage.pop("dataDisks", None)    # the emulator creates VMs without data disks (by design)
    return body


def without_violations(store, op, path, body):
    """``body`` less the values the spec rejects in a request (an example's "0" for an enum)."""
    exchange = {"method": op.method, "path": path, "apiVersion": op.apiVersion, "requestBody": body}
    for violation in azurespec.validate_exchange(store, exchange):
        if violation.where != "request" or not violation.pointer or violation.kind == "required":
            continue
        *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in violation.pointer.split("/")[1:]]
        node = body
        for token in parents:
            node = node[int(token)] if isinstance(node, list) else node.get(token, {})
        if isinstance(node, dict):
            node.pop(last, None)
    return body


def prepare(store, example, emulator, rg, path, body):
    """Create what the request needs: its resource group, target or parents, referenced ids.

    Returns the body the example's target was created with when that was the example's own
    resource (a read), so that what the emulator kept of it can be judged; else None.
    """
    op = example.operation
    group_op = op.operationId.startswith("ResourceGroups_")
    if not (group_op and op.method == "PUT") and "resourceGroupName" in example.data.get("parameters", {}):
        emulator.ensure_resource_group(rg)
    for resource_id in referenced_ids(body):
        emulator.ensure(resource_id)
    target = path.split("?", 1)[0]
    parts = target.strip("/").split("/")
    if op.method == "PUT":
        target = target.rsplit("/", 2)[0]           # the parent (ignored unless it is a resource)
    elif op.method == "POST":
        target = target.rsplit("/", 1)[0]           # the resource the action is on
    elif len(parts) % 2 == 1:                       # a list: make sure it lists one
        target = target + "/" + list_item_name(example, parts[-1])
    template = seed_template(store, example, emulator, rg, target) if op.method in ("GET", "PATCH") else None
    for resource_id in referenced_ids(template):
        if resource_id.lower() != target.lower():
            emulator.ensure(resource_id)
    written = emulator.ensure(target, template)
    if template is not None and written is not template:
        refusal = emulator.template_refusals.get(target.lower())
        example.seed_note = f"seeded with a small body (the example's own resource: {refusal})" if refusal \
            else "the resource already existed"
    if op.operationId == "VirtualMachines_AttachDetachDataDisks" and isinstance(body, dict):
        detached = [d.get("diskId") for d in body.get("dataDisksToDetach", []) if d.get("diskId")]
        emulator.attach(target, ["/" + d.lstrip("/") for d in detached])
    return written if written is not None and written is template and op.method == "GET" else None


def list_item_name(example, collection):
    """The name of the resource a list example should list: its first item's, else a made-up one."""
    answer = (example.data.get("responses", {}).get("200") or {}).get("body")
    items = answer.get("value") if isinstance(answer, dict) else None
    if items and isinstance(items[0], dict) and items[0].get("name"):
        return PLACEHOLDER.sub(lambda m: re.sub(r"[^A-Za-z0-9]", "", m.group(1)) or "x", items[0]["name"])
    return "0.0.1" if collection.lower() == "versions" else "azspecListed"
