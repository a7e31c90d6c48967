import Foundation

@testable import AzureEmulator

/// Requests to the builder VMs of an emulator serving several (`builderVMCount`).
extension Harness {
    /// Builder VM `vm`'s ARM path, with an api-version.
    func vmPath(_ vm: Int) -> String {
        "\(compute)/virtualMachines/\(configuration.builderVM(at: vm).name)?api-version=2024-07-01"
    }

    /// Builder VM `vm`'s IMDS path prefix (`""` for VM 0, `/_vm/<i>` for the others).
    func imdsPrefix(_ vm: Int) -> String { vm == 0 ? "" : "/_vm/\(vm)" }

    /// Builder VM `vm`'s instance metadata.
    func instance(vm: Int) async throws -> HTTPResult {
        try await send(
            "GET", imdsPrefix(vm) + "/metadata/instance?api-version=2021-02-01", headers: ["Metadata": "true"],
            auth: false)
    }

    /// A managed-identity token of builder VM `vm` for `resource` (ARM unless told).
    func identityToken(vm: Int, resource: String = "https://management.azure.com/") async throws -> String {
        let r = try await send(
            "GET", imdsPrefix(vm) + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=\(pct(resource))",
            headers: ["Metadata": "true"], auth: false)
        guard r.status == 200, let token = r.json?["access_token"]?.stringValue else {
            throw HarnessError(message: "IMDS token of VM \(vm) failed: \(r.status) \(r.text)")
        }
        return token
    }

    /// Replaces builder VM `vm`'s data disks with `disks` (name → LUN) by a PATCH, as
    /// `token`'s identity, and waits for the operation.
    @discardableResult
    func setDataDisks(vm: Int, _ disks: [(String, Int)], as token: String? = nil) async throws -> HTTPResult {
        var caller = self
        if let token { caller.token = token }
        let list: [JSON] = disks.map { name, lun in
            ["lun": JSON(lun), "createOption": "Attach", "managedDisk": ["id": .string(diskID(name))]]
        }
        let r = try await caller.send(
            "PATCH", vmPath(vm), json: ["properties": ["storageProfile": ["dataDisks": .array(list)]]])
        guard r.status == 200 else { return r }
        return try await caller.waitForOperation(r)
    }

    /// The JSON claims of a JWT (not verified).
    static func claims(_ token: String) -> JSON? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        return Data(base64Encoded: b64).flatMap { try? JSON.decode($0) }
    }
}
