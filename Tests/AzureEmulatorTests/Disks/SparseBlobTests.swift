import Foundation
import Testing

@testable import AzureEmulator

/// Blob files: sizes, sparseness, copies and grow-only resizes. Plain file operations:
/// no root needed.
@Suite struct SparseBlobTests {
    static let gib: Int64 = 1 << 30

    @Test func emptyDiskIsSparse() async throws {
        try await DiskTestFixture.with { fixture in
            try await fixture.backend.createEmpty(id: "/disks/empty", sizeGB: 4)
            #expect(try await fixture.backend.sizeGB(id: "/disks/empty") == 4)
            let allocated = try #require(try await fixture.backend.allocatedBytes(id: "/disks/empty"))
            #expect(allocated < 1 << 20)
        }
    }

    @Test func copyKeepsHolesAndData() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createEmpty(id: "/disks/src", sizeGB: 2)
            // 3 MiB of data at 1 GiB, plus a marker at the very end.
            let payload = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            let source = backend.blobPath(id: "/disks/src")
            let handle = try #require(FileHandle(forWritingAtPath: source))
            try handle.seek(toOffset: UInt64(Self.gib))
            try handle.write(contentsOf: payload)
            try handle.seek(toOffset: UInt64(2 * Self.gib - 5))
            try handle.write(contentsOf: Data("tail!".utf8))
            try handle.close()

            try await backend.copy(from: "/disks/src", to: "/snapshots/copy", sizeGB: nil)
            let copy = backend.blobPath(id: "/snapshots/copy")
            #expect(try await backend.sizeGB(id: "/snapshots/copy") == 2)
            let sourceAllocated = try #require(try await backend.allocatedBytes(id: "/disks/src"))
            let copyAllocated = try #require(try await backend.allocatedBytes(id: "/snapshots/copy"))
            #expect(copyAllocated <= sourceAllocated + (1 << 20))
            #expect(copyAllocated < 16 << 20)

            let reader = try #require(FileHandle(forReadingAtPath: copy))
            defer { try? reader.close() }
            try reader.seek(toOffset: UInt64(Self.gib))
            #expect(try reader.read(upToCount: payload.count) == payload)
            try reader.seek(toOffset: UInt64(2 * Self.gib - 5))
            #expect(try reader.read(upToCount: 5) == Data("tail!".utf8))
            try reader.seek(toOffset: UInt64(Self.gib / 2))
            #expect(try reader.read(upToCount: 4096) == Data(count: 4096))
        }
    }

    @Test func copyGrowsButNeverShrinks() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createEmpty(id: "src", sizeGB: 2)
            try await backend.copy(from: "src", to: "bigger", sizeGB: 5)
            #expect(try await backend.sizeGB(id: "bigger") == 5)
            await #expect(throws: DiskBackendError.self) {
                try await backend.copy(from: "src", to: "smaller", sizeGB: 1)
            }
            #expect(try await backend.sizeGB(id: "smaller") == nil)
            await #expect(throws: DiskBackendError.blobNotFound(id: "missing")) {
                try await backend.copy(from: "missing", to: "x", sizeGB: nil)
            }
        }
    }

    @Test func resizeIsGrowOnly() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createEmpty(id: "d", sizeGB: 2)
            try await backend.resize(id: "d", sizeGB: 3)
            #expect(try await backend.sizeGB(id: "d") == 3)
            await #expect(
                throws: DiskBackendError.shrinkRefused(id: "d", currentBytes: 3 * Self.gib, requestedBytes: Self.gib)
            ) {
                try await backend.resize(id: "d", sizeGB: 1)
            }
            #expect(try await backend.sizeGB(id: "d") == 3)
            #expect(try #require(try await backend.allocatedBytes(id: "d")) < 1 << 20)
            await #expect(throws: DiskBackendError.blobNotFound(id: "nope")) {
                try await backend.resize(id: "nope", sizeGB: 4)
            }
        }
    }

    @Test func missingBlobHasNoSizeAndDeletesQuietly() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            #expect(try await backend.sizeGB(id: "ghost") == nil)
            try await backend.delete(id: "ghost")
            try await backend.createEmpty(id: "real", sizeGB: 1)
            try await backend.delete(id: "real")
            #expect(try await backend.sizeGB(id: "real") == nil)
            await #expect(throws: DiskBackendError.invalidSize(id: "zero", sizeGB: 0)) {
                try await backend.createEmpty(id: "zero", sizeGB: 0)
            }
        }
    }

    @Test func armIdsMapToDistinctFiles() throws {
        let backend = try DiskTestFixture().backend
        defer {
            try? FileManager.default.removeItem(atPath: (backend.stateDirectory as NSString).deletingLastPathComponent)
        }
        let a = backend.blobPath(id: "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/os")
        let b = backend.blobPath(id: "/subscriptions/s/resourcegroups/rg2/providers/microsoft.compute/disks/os")
        #expect(a != b)
        #expect(a.hasPrefix(backend.stateDirectory + "/blobs/disks_os-"))
        #expect(!(a as NSString).lastPathComponent.contains("/"))
    }
}
