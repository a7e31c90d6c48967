import Foundation
import Testing

@testable import AzureEmulator

/// Measurements, not assertions: how fast a disk copy is (a 4 GiB sparse disk with 1 GiB
/// written) and how long a default-size platform image takes to build. Runs only when
/// KILN_DISK_THROUGHPUT=1, as it writes a gigabyte:
/// `KILN_DISK_THROUGHPUT=1 swift test --filter DiskCopyThroughput`.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["KILN_DISK_THROUGHPUT"] == "1",
        "set KILN_DISK_THROUGHPUT=1 to measure disk copy throughput"))
struct DiskCopyThroughput {
    @Test func copyOfFourGiBDiskWithOneGiBWritten() async throws {
        try await DiskTestFixture.with { fixture in
            let backend = fixture.backend
            try await backend.createEmpty(id: "src", sizeGB: 4)
            // 1 GiB of data in 64 MiB runs spread over the disk, holes between them.
            let chunk = Data((0..<(64 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131) })
            let handle = try #require(FileHandle(forWritingAtPath: backend.blobPath(id: "src")))
            for index in 0..<16 {
                try handle.seek(toOffset: UInt64(index) * (256 << 20))
                try handle.write(contentsOf: chunk)
            }
            try handle.synchronize()
            try handle.close()

            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                try await backend.copy(from: "src", to: "copy", sizeGB: nil)
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let allocated = try #require(try await backend.allocatedBytes(id: "copy"))
            print(
                String(
                    format: "disk copy: 4 GiB sparse, 1 GiB data: %.2f s, %.0f MiB/s of data, copy allocates %.0f MiB",
                    seconds, 1024 / seconds, Double(allocated) / 1_048_576))
            #expect(allocated < (1 << 30) + (64 << 20))
        }
    }

    @Test func buildOfDefaultSizePlatformImage() async throws {
        try await DiskTestFixture.with(imageBytes: PlatformImageBuilder.defaultDiskBytes) { fixture in
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                _ = try await fixture.backend.imageBuilder.image(for: ubuntuV2)
            }
            let path = fixture.backend.imageBuilder.cachedPath(for: ubuntuV2)
            print(
                "platform image build (2 GiB, GPT): \(elapsed), allocates \(try SparseFile.allocatedBytes(of: path) >> 20) MiB"
            )
        }
    }
}
