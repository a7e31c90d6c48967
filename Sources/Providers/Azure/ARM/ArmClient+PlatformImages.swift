import Foundation
import Model

extension ArmClient {
    func platformImagePath(subscription: String, location: String, urn: PlatformImageURN) -> String {
        "/subscriptions/\(subscription.armPathEncoded)/providers/Microsoft.Compute/locations/\(location.armPathEncoded)"
            + "/publishers/\(urn.publisher.armPathEncoded)/artifacttypes/vmimage/offers/\(urn.offer.armPathEncoded)/skus/\(urn.sku.armPathEncoded)/versions"
    }

    /// The versions of a platform image in a location, sorted ascending by numeric version
    /// (the service's order is undocumented). The answer is a bare JSON array.
    public func listPlatformImageVersions(subscription: String, location: String, urn: PlatformImageURN) async throws
        -> [ArmPlatformImageVersionEntry]
    {
        let listURL = url(
            path: platformImagePath(subscription: subscription, location: location, urn: urn),
            apiVersion: apiVersions.compute)
        let operation = "list versions of platform image"
        let resource = "\(urn.publisher):\(urn.offer):\(urn.sku) in \(location)"
        let response = try await send(.get, listURL, operation: operation, resource: resource)
        let entries = try decode(
            [ArmPlatformImageVersionEntry].self, from: response, operation: operation, resource: resource)
        return entries.sorted { ImageVersionOrder.less($0.name, $1.name) }
    }

    /// One concrete platform image version's details; nil when it does not exist.
    public func getPlatformImageVersion(subscription: String, location: String, urn: PlatformImageURN) async throws
        -> ArmPlatformImageVersion?
    {
        guard let version = urn.version else {
            throw ArmError(
                kind: .invalidRequest, operation: "read platform image version", resource: urn.description,
                message: "resolve 'latest' to a concrete version first")
        }
        let path =
            platformImagePath(subscription: subscription, location: location, urn: urn) + "/\(version.armPathEncoded)"
        let operation = "read platform image version"
        let response = try await send(
            .get, url(path: path, apiVersion: apiVersions.compute), operation: operation,
            resource: "\(urn) in \(location)", allow404: true)
        if response.status == 404 { return nil }
        return try decode(
            ArmPlatformImageVersion.self, from: response, operation: operation, resource: "\(urn) in \(location)")
    }

    /// `urn` with `latest` replaced by the highest version by numeric comparison; a
    /// concrete version is returned unchanged. The whole list is read rather than
    /// `$orderby=name desc&$top=1`, because a name order is a string order and
    /// "1.0.9" > "1.0.10" as strings.
    public func resolvePlatformImage(subscription: String, location: String, urn: PlatformImageURN) async throws
        -> PlatformImageURN
    {
        guard urn.isLatest else { return urn }
        let versions = try await listPlatformImageVersions(subscription: subscription, location: location, urn: urn)
        guard let highest = ImageVersionOrder.highest(versions.map(\.name)) else {
            throw ArmError(
                kind: .invalidRequest, operation: "resolve latest version of platform image",
                resource: "\(urn) in \(location)",
                message: "the image has no versions in \(location)",
                hint: "check the publisher, offer, sku and location")
        }
        return urn.resolved(to: highest)
    }
}
