import Foundation

@testable import AzureEmulator

/// A test backend that changes a few of the in-memory backend's behaviours and hands the
/// rest to it: conformers implement what differs, the defaults below forward the others.
protocol WrappedDiskBackend: DiskBackend {
    var inner: InMemoryDiskBackend { get }
}

extension WrappedDiskBackend {
    func createEmpty(id: String, sizeGB: Int) async throws { try await inner.createEmpty(id: id, sizeGB: sizeGB) }
    func copy(from source: String, to id: String, sizeGB: Int?) async throws {
        try await inner.copy(from: source, to: id, sizeGB: sizeGB)
    }
    func createFromPlatformImage(_ image: PlatformImageKey, to id: String, sizeGB: Int?) async throws {
        try await inner.createFromPlatformImage(image, to: id, sizeGB: sizeGB)
    }
    func resize(id: String, sizeGB: Int) async throws { try await inner.resize(id: id, sizeGB: sizeGB) }
    func sizeGB(id: String) async throws -> Int? { try await inner.sizeGB(id: id) }
    func delete(id: String) async throws { try await inner.delete(id: id) }
    func attach(id: String, lun: Int, vm: Int) async throws -> AttachedDevice {
        try await inner.attach(id: id, lun: lun, vm: vm)
    }
    func detach(lun: Int, vm: Int) async throws -> DetachOutcome { try await inner.detach(lun: lun, vm: vm) }
    func crash(vm: Int) async -> CrashOutcome { await inner.crash(vm: vm) }
    func detachAll() async { await inner.detachAll() }
    func inUse(id: String) async -> String? { await inner.inUse(id: id) }
    func attachedBlobs() async -> [BuilderLUN: String] { await inner.attachedBlobs() }
}
