import Foundation

/// ARM routing: subscriptions, resource groups, the Microsoft.Compute provider and tag queries.
extension Emulator {
    func methodNotAllowed(_ request: EmulatorRequest) -> ARMError {
        ARMError(405, "MethodNotAllowed", "The requested resource does not support http method '\(request.method)'.")
    }

    func arm(_ request: EmulatorRequest, _ lower: [String], failOperation: FaultRule?) async throws(ARMError)
        -> EmulatorResponse
    {
        let seg = request.segments
        if lower == ["tenants"] {
            try apiVersions.check(request, family: .resources, typeName: "tenants", location: config.location)
            return .json(
                200,
                [
                    "value": [
                        [
                            "id": .string("/tenants/\(config.tenant)"), "tenantId": .string(config.tenant),
                            "tenantCategory": "Home", "displayName": "Kiln Emulator",
                            "defaultDomain": .string(config.tenantDomain), "domains": [.string(config.tenantDomain)]
                        ]
                    ]
                ])
        }
        if lower.first == "providers" {
            throw ARMError(404, "NotFound", "The provider-level path \(request.path) is not emulated.")
        }
        if lower == ["subscriptions"] {
            try apiVersions.check(request, family: .resources, typeName: "subscriptions", location: config.location)
            return .json(200, ["value": [subscriptionBody()], "count": ["type": "Total", "value": 1]])
        }
        guard lower.count >= 2 else { throw ARMError(404, "NotFound", "No route for \(request.path).") }
        guard lower[1] == config.subscription.lowercased() else {
            throw ARMError(404, "SubscriptionNotFound", "The subscription '\(seg[1])' could not be found.")
        }
        let rest = Array(lower.dropFirst(2))
        let restSeg = Array(seg.dropFirst(2))
        switch rest.first {
        case nil:
            try apiVersions.check(request, family: .resources, typeName: "subscriptions", location: config.location)
            guard request.method == "GET" else { throw methodNotAllowed(request) }
            return .json(200, subscriptionBody())
        case "resources":
            guard rest.count == 1 else { break }
            try apiVersions.check(request, family: .resources, typeName: "resources", location: config.location)
            return try listResources(request, resourceGroup: nil)
        case "locations" where rest.count == 1:
            try apiVersions.check(request, family: .resources, typeName: "locations", location: config.location)
            return .json(
                200,
                [
                    "value": [
                        [
                            "id": .string("/subscriptions/\(config.subscription)/locations/\(config.location)"),
                            "name": .string(config.location), "displayName": .string(config.location),
                            "regionalDisplayName": .string(config.location), "type": "Region"
                        ]
                    ]
                ])
        case "resourcegroups":
            return try await resourceGroupRoutes(request, rest, restSeg, failOperation: failOperation)
        case "providers":
            guard rest.count >= 2 else { break }
            if rest.count == 2 {
                try apiVersions.check(request, family: .resources, typeName: "providers", location: config.location)
                return .json(200, providerBody(restSeg[1]))
            }
            guard rest[1] == "microsoft.compute" else { break }
            let tail = Array(rest.dropFirst(2))
            let tailSeg = Array(restSeg.dropFirst(2))
            if tail.first == "locations", tail.count >= 2 {
                return try await locationRoutes(request, tail, tailSeg)
            }
            if tail.count == 1, request.method == "GET", let kind = Self.listKind(tail[0]) {
                try apiVersions.check(
                    request, family: Self.family(kind), typeName: tailSeg[0], location: config.location)
                return try listKind(kind, resourceGroup: nil, parent: nil, request)
            }
            throw invalidType(tailSeg.first ?? "", request)
        default:
            break
        }
        throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
    }

    static func listKind(_ segment: String) -> ResourceKind? {
        switch segment {
        case "disks": .disk
        case "snapshots": .snapshot
        case "images": .image
        case "galleries": .gallery
        case "virtualmachines": .virtualMachine
        case "diskencryptionsets": .diskEncryptionSet
        default: nil
        }
    }

    static func family(_ kind: ResourceKind) -> APIVersionFamily {
        switch kind {
        case .disk, .snapshot, .diskEncryptionSet: .disks
        case .image, .virtualMachine: .compute
        case .gallery, .galleryImage, .galleryImageVersion: .galleries
        }
    }

    func invalidType(_ type: String, _ request: EmulatorRequest) -> ARMError {
        ARMError(
            404, "InvalidResourceType",
            "The resource type '\(type)' could not be found in the namespace 'Microsoft.Compute' for api version '\(request.apiVersion ?? "")'."
        )
    }

    func subscriptionBody() -> JSON {
        [
            "id": .string("/subscriptions/\(config.subscription)"), "authorizationSource": "RoleBased",
            "managedByTenants": [], "subscriptionId": .string(config.subscription), "tenantId": .string(config.tenant),
            "displayName": .string(config.subscriptionName), "state": "Enabled",
            "subscriptionPolicies": [
                "locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"
            ]
        ]
    }

    /// `GET {ARM}/metadata/endpoints`: what `az cloud register` and go-azure-sdk read. No auth.
    func cloudMetadata(_ request: EmulatorRequest) throws(ARMError) -> EmulatorResponse {
        let arm = request.baseURL + "/"
        let login = loginBase(for: request) + "/"
        if request.apiVersion == "2015-01-01" {
            return .json(
                200,
                [
                    "galleryEndpoint": .string(arm), "graphEndpoint": "https://graph.windows.net/",
                    "portalEndpoint": "https://portal.azure.com/",
                    "authentication": [
                        "loginEndpoint": .string(login), "audiences": [.string(arm), "https://management.azure.com/"]
                    ]
                ])
        }
        let doc: JSON = [
            "name": "AzureCloud", "portal": "https://portal.azure.com",
            "authentication": [
                "loginEndpoint": .string(login),
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common", "identityProvider": "AAD"
            ],
            "media": "https://rest.media.azure.net", "graphAudience": "https://graph.windows.net/",
            "graph": "https://graph.windows.net/",
            "suffixes": [
                "storage": "core.windows.net", "keyVaultDns": "vault.azure.net", "acrLoginServer": "azurecr.io",
                "sqlServerHostname": "database.windows.net"
            ],
            "batch": "https://batch.core.windows.net/", "resourceManager": .string(arm),
            "vmImageAliasDoc":
                "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
            "activeDirectoryDataLake": "https://datalake.azure.net/",
            "sqlManagement": "https://management.core.windows.net:8443/",
            "microsoftGraphResourceId": "https://graph.microsoft.com/"
        ]
        if let v = request.apiVersion, v < "2022-09-01" { return .json(200, [doc]) }
        return .json(200, doc)
    }

    // MARK: Resource groups

    func resourceGroupRoutes(
        _ request: EmulatorRequest, _ rest: [String], _ restSeg: [String], failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        if rest.count == 1 {
            try apiVersions.check(request, family: .resources, typeName: "resourceGroups", location: config.location)
            guard request.method == "GET" else { throw methodNotAllowed(request) }
            return .json(
                200,
                [
                    "value": .array(
                        state.resourceGroups.values.sorted {
                            ($0["name"]?.stringValue ?? "") < ($1["name"]?.stringValue ?? "")
                        })
                ])
        }
        let rgName = restSeg[1]
        let rgKey = rest[1]
        if rest.count == 2 {
            try apiVersions.check(request, family: .resources, typeName: "resourceGroups", location: config.location)
            switch request.method {
            case "GET", "HEAD":
                guard let rg = state.resourceGroups[rgKey] else { throw resourceGroupNotFound(rgName) }
                return request.method == "HEAD" ? .empty(204) : .json(200, rg)
            case "PUT":
                let body = try BodyReader.parse(request.body)
                guard let loc = try body.string("location") else {
                    throw ARMError(400, "LocationRequired", "The location property is required for this definition.")
                }
                let existed = state.resourceGroups[rgKey] != nil
                let name = state.resourceGroups[rgKey]?["name"]?.stringValue ?? rgName
                state.resourceGroups[rgKey] = Self.resourceGroupBody(
                    config: config, name: name, location: loc, tags: try body.stringMap("tags"))
                markDirty()
                return .json(existed ? 200 : 201, state.resourceGroups[rgKey]!)
            default:
                throw methodNotAllowed(request)
            }
        }
        guard state.resourceGroups[rgKey] != nil || (config.createResourceGroupsOnDemand && request.method == "PUT")
        else {
            throw resourceGroupNotFound(rgName)
        }
        if state.resourceGroups[rgKey] == nil {
            state.resourceGroups[rgKey] = Self.resourceGroupBody(
                config: config, name: rgName, location: config.location, tags: nil)
            markDirty()
        }
        let rg = state.resourceGroups[rgKey]?["name"]?.stringValue ?? rgName
        if rest.count == 3, rest[2] == "resources" {
            try apiVersions.check(request, family: .resources, typeName: "resources", location: config.location)
            return try listResources(request, resourceGroup: rgKey)
        }
        guard rest.count >= 5, rest[2] == "providers" else {
            throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
        }
        guard rest[3] == "microsoft.compute" else {
            throw ARMError(404, "InvalidResourceNamespace", "The resource namespace '\(restSeg[3])' is invalid.")
        }
        return try await computeRoutes(
            request, resourceGroup: rg, Array(rest.dropFirst(4)), Array(restSeg.dropFirst(4)),
            failOperation: failOperation)
    }

    func resourceGroupNotFound(_ name: String) -> ARMError {
        ARMError(404, "ResourceGroupNotFound", "Resource group '\(name)' could not be found.")
    }

    /// Routes below `/resourceGroups/{rg}/providers/Microsoft.Compute/`.
    func computeRoutes(
        _ request: EmulatorRequest, resourceGroup rg: String, _ p: [String], _ s: [String], failOperation: FaultRule?
    ) async throws(ARMError) -> EmulatorResponse {
        let base = "/subscriptions/\(config.subscription)/resourceGroups/\(rg)/providers/Microsoft.Compute"
        func idOf(_ parts: [String]) -> String { base + "/" + parts.joined(separator: "/") }
        guard let type = p.first else { throw invalidType("", request) }
        switch type {
        case "disks", "snapshots":
            let kind: ResourceKind = type == "disks" ? .disk : .snapshot
            try apiVersions.check(request, family: .disks, typeName: s[0], location: config.location)
            let canonical = kind == .disk ? "disks" : "snapshots"
            if p.count == 1 { return try listOnly(kind, rg, request) }
            let id = idOf([canonical, s[1]])
            if p.count == 2 {
                return try await diskLike(request, kind: kind, id: id, resourceGroup: rg, failOperation: failOperation)
            }
            if p.count == 3, request.method == "POST", p[2] == "begingetaccess" || p[2] == "endgetaccess" {
                return try await diskAccess(
                    request, kind: kind, id: id, grant: p[2] == "begingetaccess", failOperation: failOperation)
            }
        case "diskencryptionsets":
            try apiVersions.check(request, family: .disks, typeName: s[0], location: config.location)
            if p.count == 1 { return try listOnly(.diskEncryptionSet, rg, request) }
            if p.count == 2 {
                return try await diskEncryptionSetRoutes(
                    request, id: idOf(["diskEncryptionSets", s[1]]), resourceGroup: rg, failOperation: failOperation)
            }
        case "images":
            try apiVersions.check(request, family: .compute, typeName: s[0], location: config.location)
            if p.count == 1 { return try listOnly(.image, rg, request) }
            if p.count == 2 {
                return try await imageRoutes(
                    request, id: idOf(["images", s[1]]), resourceGroup: rg, failOperation: failOperation)
            }
        case "virtualmachines":
            try apiVersions.check(request, family: .compute, typeName: s[0], location: config.location)
            if p.count == 1 { return try listOnly(.virtualMachine, rg, request) }
            let id = idOf(["virtualMachines", s[1]])
            if p.count == 2 { return try await virtualMachineRoutes(request, id: id, failOperation: failOperation) }
            if p.count == 3, p[2] == "attachdetachdatadisks" {
                guard request.method == "POST" else { throw methodNotAllowed(request) }
                return try await attachDetachDataDisks(request, id: id, failOperation: failOperation)
            }
            if p.count == 3, p[2] == "instanceview", request.method == "GET" {
                guard let vm = resource(Self.normalizeID(id)) else {
                    throw ARMError.notFound(type: "Microsoft.Compute/virtualMachines", name: s[1], resourceGroup: rg)
                }
                return .json(200, instanceView(vm))
            }
        case "galleries":
            try apiVersions.check(request, family: .galleries, typeName: s[0], location: config.location)
            if p.count == 1 { return try listOnly(.gallery, rg, request) }
            return try await galleryRoutes(request, resourceGroup: rg, p, s, base: base, failOperation: failOperation)
        default:
            throw invalidType(s[0], request)
        }
        throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
    }

    func listOnly(_ kind: ResourceKind, _ rg: String, _ request: EmulatorRequest) throws(ARMError) -> EmulatorResponse {
        guard request.method == "GET" else { throw methodNotAllowed(request) }
        return try listKind(kind, resourceGroup: rg, parent: nil, request)
    }

    /// `{"value":[...]}` of one kind, in a resource group (or the subscription), optionally under a parent.
    func listKind(_ kind: ResourceKind, resourceGroup: String?, parent: String?, _ request: EmulatorRequest)
        throws(ARMError) -> EmulatorResponse
    {
        let rgPrefix = resourceGroup.map { "/subscriptions/\(config.subscription)/resourcegroups/\($0)/".lowercased() }
        let items = state.resources.filter { key, r in
            guard r.kind == kind else { return false }
            if let rgPrefix, !key.hasPrefix(rgPrefix) { return false }
            if let parent, !key.hasPrefix(parent.lowercased() + "/") { return false }
            return true
        }.sorted { $0.key < $1.key }.map { publicBody($0.value, request) }
        return try page(items, request)
    }

    /// The body a client sees: with `$expand=ReplicationStatus` the live replication state.
    func publicBody(_ r: StoredResource, _ request: EmulatorRequest) -> JSON {
        var body = r.body
        if r.kind == .galleryImageVersion, request.query["$expand"]?.lowercased() == "replicationstatus",
            let plan = r.replication
        {
            body.set(["properties", "replicationStatus"], replicationStatus(plan))
        }
        if r.kind == .virtualMachine, request.query["$expand"]?.lowercased() == "instanceview" {
            body.set(["properties", "instanceView"], instanceView(r))
        }
        return body
    }

    func instanceView(_ vm: StoredResource) -> JSON {
        let state = vm.provisioningState ?? "Succeeded"
        return [
            "computerName": .string(vm.name), "osName": "ubuntu", "osVersion": "24.04",
            "statuses": [
                [
                    "code": .string("ProvisioningState/\(state.lowercased())"), "level": "Info",
                    "displayStatus": .string("Provisioning \(state.lowercased())")
                ],
                ["code": "PowerState/running", "level": "Info", "displayStatus": "VM running"]
            ]
        ]
    }

    func replicationStatus(_ plan: ReplicationPlan) -> JSON {
        let elapsed = Date().timeIntervalSince(plan.start)
        var all = true
        let summary: [JSON] = plan.regions.enumerated().map { i, region in
            let window = plan.window(i)
            let progress: Int
            if plan.perRegion <= 0 || elapsed >= window.ends {
                progress = 100
            } else {
                progress = max(0, min(99, Int((elapsed - window.begins) / plan.perRegion * 100)))
            }
            let state: String
            if progress == 100 {
                state = "Completed"
            } else if plan.failed {
                state = "Failed"
            } else {
                state = "Replicating"
            }
            if state != "Completed" { all = false }
            return [
                "region": .string(region), "state": .string(state),
                "details": plan.failed && state == "Failed" ? "Replication failed (injected by the emulator)." : "",
                "progress": JSON(progress)
            ]
        }
        return [
            "aggregatedState": .string(all ? "Completed" : (plan.failed ? "Failed" : "InProgress")),
            "summary": .array(summary)
        ]
    }

    // MARK: Resources by tag

    func listResources(_ request: EmulatorRequest, resourceGroup: String?) throws(ARMError) -> EmulatorResponse {
        guard request.method == "GET" else { throw methodNotAllowed(request) }
        var tagName: String?
        var tagValue: String?
        var typeFilter: String?
        var nameFilter: String?
        var groupFilter = resourceGroup
        if let filter = request.query["$filter"], !filter.isEmpty {
            for clause in filter.components(separatedBy: " and ") {
                let parts = clause.trimmingCharacters(in: .whitespaces).components(separatedBy: " eq ")
                guard parts.count == 2 else {
                    throw ARMError(
                        400, "InvalidFilterInQueryString",
                        "The $filter '\(filter)' is not supported. Use tagName eq '..' [and tagValue eq '..'], resourceType eq '..' or name eq '..'."
                    )
                }
                let field = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
                var value = parts[1].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                switch field {
                case "tagname": tagName = value
                case "tagvalue": tagValue = value
                case "resourcetype": typeFilter = value.lowercased()
                case "name": nameFilter = value.lowercased()
                // `az resource list -g G` sends it on the subscription's list; ARM accepts it.
                case "resourcegroup": groupFilter = value
                default:
                    throw ARMError(
                        400, "InvalidFilterInQueryString",
                        "The filter field '\(parts[0])' is not supported in '\(filter)'.")
                }
            }
        }
        if tagValue != nil && tagName == nil {
            throw ARMError(400, "InvalidFilterInQueryString", "tagValue requires tagName in the $filter.")
        }
        let expand = try ResourceListExpansion(request.query["$expand"])
        let rgPrefix = groupFilter.map { "/subscriptions/\(config.subscription)/resourcegroups/\($0)/".lowercased() }
        var items: [JSON] = []
        for (key, r) in state.resources.sorted(by: { $0.key < $1.key }) {
            if let rgPrefix, !key.hasPrefix(rgPrefix) { continue }
            if let typeFilter, r.kind.armType.lowercased() != typeFilter { continue }
            if let nameFilter, r.name.lowercased() != nameFilter { continue }
            if let tagName {
                let tags = r.body["tags"]?.objectValue ?? [:]
                guard let match = tags.first(where: { $0.key.lowercased() == tagName.lowercased() }) else { continue }
                if let tagValue, match.value.stringValue != tagValue { continue }
            }
            var item: JSON = [
                "id": .string(r.id), "name": .string(r.name), "type": .string(r.kind.armType),
                "location": r.body["location"] ?? .string(config.location)
            ]
            // ARM leaves the tags out of a list filtered by tag (the Resources - List By
            // Resource Group spec; seen with a name-only filter too), so clients that need
            // them list without the filter.
            if tagName == nil, let tags = r.body["tags"] { item["tags"] = tags }
            if let sku = r.body["sku"] { item["sku"] = sku }
            if let managedBy = r.body["managedBy"] { item["managedBy"] = managedBy }
            if let zones = r.body["zones"] { item["zones"] = zones }
            expand.add(r, to: &item)
            items.append(item)
        }
        if let top = request.query["$top"].flatMap(Int.init), top >= 0 { items = Array(items.prefix(top)) }
        return try page(items, request)
    }

    // MARK: Locations (operation status, platform images)

    func locationRoutes(_ request: EmulatorRequest, _ tail: [String], _ tailSeg: [String]) async throws(ARMError)
        -> EmulatorResponse
    {
        // tail = ["locations", loc, ...]
        let rest = Array(tail.dropFirst(2))
        let restSeg = Array(tailSeg.dropFirst(2))
        if rest.count == 2, ["operations", "diskoperations", "capsoperations"].contains(rest[0]) {
            guard request.apiVersion?.isEmpty == false else {
                throw ARMError(
                    400, "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.")
            }
            return try await operationStatus(request, opID: restSeg[1])
        }
        if rest.first == "publishers" {
            try apiVersions.check(request, family: .compute, typeName: "locations/publishers", location: tailSeg[1])
            return try platformImages(request, location: tailSeg[1], rest, restSeg)
        }
        throw ARMError(404, "NotFound", "No route for \(request.method) \(request.path).")
    }

    /// `GET /subscriptions/{s}/providers/{namespace}`: registered, with the resource types the
    /// emulator serves and the api-versions it accepts for each (`az resource show --ids`
    /// picks its api-version from them; the Resources spec's `Provider`/`ProviderResourceType`).
    func providerBody(_ namespace: String) -> JSON {
        var body: JSON = [
            "id": .string("/subscriptions/\(config.subscription)/providers/\(namespace)"),
            "namespace": .string(namespace), "registrationState": "Registered",
            "registrationPolicy": "RegistrationRequired"
        ]
        guard namespace.lowercased() == "microsoft.compute" else { return body }
        let families: [(String, APIVersionFamily)] = [
            ("disks", .disks), ("snapshots", .disks), ("diskEncryptionSets", .disks), ("images", .compute),
            ("virtualMachines", .compute),
            ("locations/publishers/artifacttypes/offers/skus/versions", .compute), ("galleries", .galleries),
            ("galleries/images", .galleries), ("galleries/images/versions", .galleries)
        ]
        body["resourceTypes"] = .array(
            families.map { type, family in
                [
                    "resourceType": .string(type), "locations": [.string(config.location)],
                    // Newest first, as ARM lists them.
                    "apiVersions": .array(apiVersions.accepted(family).sorted(by: >).map { .string($0) })
                ]
            })
        return body
    }
}
