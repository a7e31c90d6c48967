import Foundation

/// The Instance Metadata Service of each builder VM: instance metadata and managed-identity
/// tokens. VM 0's is at `/metadata/...`, VM i's at `/_vm/<i>/metadata/...` (VM 0's there too).
extension Emulator {
    func imdsError(_ status: Int, _ body: JSON) -> EmulatorResponse { .json(status, body) }

    /// `/_vm/<i>/metadata/...`: builder VM i's IMDS.
    func builderVMIMDS(_ request: EmulatorRequest, _ lower: [String]) async -> EmulatorResponse {
        guard lower.count >= 3, let vm = Int(lower[1]), lower[2] == "metadata" else {
            return imdsError(404, ["error": "Not found"])
        }
        guard builderVMKeys.indices.contains(vm) else {
            return imdsError(
                404,
                [
                    "error": .string(
                        "Not found: the emulator has \(builderVMKeys.count) builder VM(s), 0…\(builderVMKeys.count - 1)"
                    )
                ])
        }
        var inner = request
        inner.path = "/" + request.segments.dropFirst(2).joined(separator: "/")
        return await imds(inner, Array(lower.dropFirst(2)), vm: vm)
    }

    func imds(_ request: EmulatorRequest, _ lower: [String], vm index: Int) async -> EmulatorResponse {
        guard request.method == "GET" else {
            return imdsError(405, ["error": "Bad request. Only GET is supported."])
        }
        guard request.header("metadata")?.lowercased() == "true" else {
            return imdsError(400, ["error": "Bad request. Required metadata header not specified"])
        }
        if request.header("x-forwarded-for") != nil {
            return imdsError(400, ["error": "Bad request. Request is forwarded (X-Forwarded-For header present)."])
        }
        let newest: JSON = ["2025-04-07", "2024-07-17", "2024-03-15"]
        guard let v = request.apiVersion, apiVersions.accepted(.imds).contains(v) else {
            return imdsError(
                400,
                [
                    "error":
                        "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds",
                    "newest-versions": newest
                ])
        }
        _ = v
        if lower.starts(with: ["metadata", "identity", "oauth2", "token"]) {
            return managedIdentityToken(request, vm: index)
        }
        if lower.starts(with: ["metadata", "instance"]) {
            var doc: JSON = ["compute": imdsCompute(vm: index), "network": imdsNetwork(vm: index)]
            // Sub-paths select a node: /metadata/instance/compute/storageProfile/...
            var node: JSON? = doc
            for seg in request.segments.dropFirst(2) {
                if let obj = node?.objectValue {
                    node = obj.first { $0.key.lowercased() == seg.lowercased() }?.value
                } else if let arr = node?.arrayValue, let i = Int(seg), i >= 0, i < arr.count {
                    node = arr[i]
                } else {
                    node = nil
                }
                if node == nil { break }
            }
            guard let found = node else { return imdsError(404, ["error": "Not found"]) }
            doc = found
            if request.query["format"] == "text" {
                switch found {
                case .string(let s): return .text(200, s)
                case .object(let o): return .text(200, o.keys.sorted().joined(separator: "\n"))
                default: return .text(200, String(decoding: found.encoded(), as: UTF8.self))
                }
            }
            return .json(200, doc)
        }
        return imdsError(404, ["error": "Not found"])
    }

    func managedIdentityToken(_ request: EmulatorRequest, vm index: Int) -> EmulatorResponse {
        guard let resource = request.query["resource"], !resource.isEmpty else {
            return imdsError(
                400, ["error": "invalid_request", "error_description": "Required query variable 'resource' is missing"])
        }
        let vm = config.builderVM(at: index)
        if let cid = request.query["client_id"], cid.lowercased() != vm.identityClientID.lowercased() {
            return imdsError(400, ["error": "invalid_request", "error_description": "Identity not found"])
        }
        if let oid = request.query["object_id"], oid.lowercased() != vm.identityObjectID.lowercased() {
            return imdsError(400, ["error": "invalid_request", "error_description": "Identity not found"])
        }
        if request.query["msi_res_id"] != nil || request.query["mi_res_id"] != nil {
            return imdsError(400, ["error": "invalid_request", "error_description": "Identity not found"])
        }
        guard isARMAudience(resource, request: request) || Self.isStorageAudience(resource) else {
            return imdsError(
                400,
                [
                    "error": "invalid_resource",
                    "error_description": .string(
                        "AADSTS500011: The resource principal named \(resource) was not found in the tenant named \(config.tenant)."
                    )
                ])
        }
        let issued = issueToken(
            appID: vm.identityClientID, objectID: vm.identityObjectID, resource: resource, version: "1.0")
        let life = String(config.tokenLifetimeSeconds)
        return .json(
            200,
            [
                "access_token": .string(issued.token), "client_id": .string(vm.identityClientID),
                "expires_in": .string(life), "expires_on": .string(String(issued.expiresOn)),
                "ext_expires_in": .string(life), "not_before": .string(String(issued.notBefore)),
                "resource": .string(resource), "token_type": "Bearer", "refresh_token": ""
            ])
    }

    /// The `compute` section; every primitive is a string, as IMDS writes them.
    func imdsCompute(vm index: Int) -> JSON {
        let vm = config.builderVM(at: index)
        let body = state.resources[builderVMKeys[index]]?.body ?? Self.builderVMBody(config, vm: index)
        let dataDisks: [JSON] = (body.at("properties", "storageProfile", "dataDisks")?.arrayValue ?? []).map { d in
            [
                "caching": .string(d["caching"]?.stringValue ?? "None"),
                "createOption": .string(d["createOption"]?.stringValue ?? "Attach"),
                "diskSizeGB": .string(d["diskSizeGB"]?.intValue.map(String.init) ?? ""), "image": ["uri": ""],
                "lun": .string(d["lun"]?.intValue.map(String.init) ?? ""),
                "managedDisk": [
                    "id": .string(d.at("managedDisk", "id")?.stringValue ?? ""),
                    "storageAccountType": .string(
                        d.at("managedDisk", "storageAccountType")?.stringValue ?? "Standard_LRS")
                ],
                "name": .string(d["name"]?.stringValue ?? ""), "vhd": ["uri": ""], "writeAcceleratorEnabled": "false"
            ]
        }
        let os = body.at("properties", "storageProfile", "osDisk") ?? [:]
        let img = body.at("properties", "storageProfile", "imageReference") ?? [:]
        return [
            "azEnvironment": "AzurePublicCloud", "evictionPolicy": "", "isHostCompatibilityLayerVm": "false",
            "licenseType": "", "location": .string(config.location), "name": .string(vm.name),
            "offer": .string(img["offer"]?.stringValue ?? ""),
            "osProfile": [
                "adminUsername": "azureuser", "computerName": .string(vm.name), "disablePasswordAuthentication": "true"
            ],
            "osType": "Linux", "placementGroupId": "", "plan": ["name": "", "product": "", "publisher": ""],
            "platformFaultDomain": "0", "platformUpdateDomain": "0", "priority": "", "provider": "Microsoft.Compute",
            "publicKeys": [], "publisher": .string(img["publisher"]?.stringValue ?? ""),
            "resourceGroupName": .string(vm.resourceGroup), "resourceId": .string(config.builderVMID(at: index)),
            "securityProfile": ["secureBootEnabled": "false", "virtualTpmEnabled": "false"],
            "sku": .string(img["sku"]?.stringValue ?? ""),
            "storageProfile": [
                "dataDisks": .array(dataDisks),
                "imageReference": [
                    "id": "", "offer": .string(img["offer"]?.stringValue ?? ""),
                    "publisher": .string(img["publisher"]?.stringValue ?? ""),
                    "sku": .string(img["sku"]?.stringValue ?? ""), "version": .string(img["version"]?.stringValue ?? "")
                ],
                "osDisk": [
                    "caching": "ReadWrite", "createOption": "FromImage",
                    "diskSizeGB": .string(os["diskSizeGB"]?.intValue.map(String.init) ?? "30"),
                    "managedDisk": [
                        "id": .string(os.at("managedDisk", "id")?.stringValue ?? ""),
                        "storageAccountType": "Premium_LRS"
                    ],
                    "name": .string(os["name"]?.stringValue ?? ""), "osType": "Linux",
                    "writeAcceleratorEnabled": "false"
                ],
                "resourceDisk": ["size": "16384"]
            ],
            "subscriptionId": .string(config.subscription), "tags": "", "tagsList": [], "userData": "",
            "version": .string(img["version"]?.stringValue ?? ""),
            "vmId": .string(body.at("properties", "vmId")?.stringValue ?? ""), "vmScaleSetName": "",
            "vmSize": .string(vm.size), "zone": .string(vm.zone)
        ]
    }

    func imdsNetwork(vm index: Int) -> JSON {
        [
            "interface": [
                [
                    "ipv4": [
                        "ipAddress": [["privateIpAddress": .string("10.0.0.\(4 + index)"), "publicIpAddress": ""]],
                        "subnet": [["address": "10.0.0.0", "prefix": "24"]]
                    ],
                    "ipv6": ["ipAddress": []], "macAddress": .string(String(format: "000D3A%06X", 1 + index))
                ]
            ]
        ]
    }
}
