import Providers
import Testing

@Suite("Mount table parsing")
struct MountTableTests {
    static let fixture = """
        22 1 0:21 / /proc rw,relatime shared:5 - proc proc rw
        1 0 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw,discard
        40 1 7:3 / /mnt/kiln/web rw,noatime shared:20 master:3 - ext4 /dev/loop3 rw
        41 40 0:22 / /mnt/kiln/web/proc rw - proc proc rw
        42 40 0:6 / /mnt/kiln/web/dev rw,nosuid - devtmpfs devtmpfs rw,size=1024k
        43 42 0:24 / /mnt/kiln/web/dev/pts rw - devpts devpts rw,mode=600
        44 40 7:3 /srv/my\\040data /mnt/kiln/web/srv/with\\040space\\011tab rw - ext4 /dev/loop3 rw
        45 1 7:4 / /mnt/kiln/web2 rw - ext4 /dev/disk\\134odd rw
        46 44 0:30 / /mnt/kiln/web/srv/with\\040space\\011tab/deep/er/still rw - tmpfs tmpfs rw
        """

    @Test func parsesEveryFieldAndDecodesOctalEscapes() throws {
        let table = try MountTable(mountInfo: Self.fixture)
        #expect(table.entries.count == 9)
        let root = try #require(table.entry(at: "/"))
        #expect(root.mountID == 1 && root.parentID == 0 && root.device == "259:1")
        #expect(root.optionalFields == ["shared:1"])
        #expect(root.superOptions == ["rw", "discard"])
        let web = try #require(table.entry(at: "/mnt/kiln/web"))
        #expect(web.optionalFields == ["shared:20", "master:3"])
        #expect(web.mountOptions == ["rw", "noatime"])
        #expect(web.source == "/dev/loop3")
        let spaced = try #require(table.entries.first { $0.mountID == 44 })
        #expect(spaced.mountPoint == "/mnt/kiln/web/srv/with space\ttab")
        #expect(spaced.root == "/srv/my data")
        #expect(table.entries.first { $0.mountID == 45 }?.source == "/dev/disk\\odd")
        let proc = try #require(table.entries.first { $0.mountID == 41 })
        #expect(proc.optionalFields.isEmpty)
    }

    @Test func entriesUnderAPathIncludeDeepNestingButNotSiblingPrefixes() throws {
        let table = try MountTable(mountInfo: Self.fixture)
        let under = table.entries(under: "/mnt/kiln/web").map(\.mountID)
        #expect(under == [40, 41, 42, 43, 44, 46])
        #expect(table.entries(under: "/mnt/kiln/web/").map(\.mountID) == under)
        #expect(table.entries(under: "/mnt/kiln/web2").map(\.mountID) == [45])
        #expect(table.entries(source: "/dev/loop3").map(\.mountID) == [40, 44])
        #expect(table.entries.first { $0.mountID == 46 }?.depth == 8)
    }

    @Test func mountsOfADeviceIncludeItsPartitionsOnly() throws {
        let table = MountTable(entries: [
            MountEntry(
                mountID: 1, parentID: 0, device: "8:33", root: "/", mountPoint: "/a", fsType: "ext4",
                source: "/dev/sdc1"),
            MountEntry(
                mountID: 2, parentID: 0, device: "8:32", root: "/", mountPoint: "/b", fsType: "ext4", source: "/dev/sdc"
            ),
            MountEntry(
                mountID: 3, parentID: 0, device: "8:48", root: "/", mountPoint: "/c", fsType: "ext4",
                source: "/dev/sdcd1"),
            MountEntry(
                mountID: 4, parentID: 0, device: "7:1", root: "/", mountPoint: "/d", fsType: "ext4",
                source: "/dev/loop1p2"),
            MountEntry(
                mountID: 5, parentID: 0, device: "7:1", root: "/", mountPoint: "/e", fsType: "ext4",
                source: "/dev/loop12")
        ])
        #expect(table.entries(onDevice: "/dev/sdc").map(\.mountID) == [1, 2])
        #expect(table.entries(onDevice: "/dev/loop1").map(\.mountID) == [4])
    }

    @Test func decodesEscapesByteWiseAndLeavesOddBackslashesAlone() {
        #expect(decodeMountInfoEscapes("a\\040b") == "a b")
        #expect(decodeMountInfoEscapes("\\012") == "\n")
        #expect(decodeMountInfoEscapes("trailing\\04") == "trailing\\04")
        #expect(decodeMountInfoEscapes("\\999") == "\\999")
        #expect(decodeMountInfoEscapes("caf\\303\\251") == "café")
    }

    @Test func aMalformedLineIsAnErrorNamingTheLine() {
        #expect {
            try MountTable(mountInfo: "1 0 8:1 / / rw - ext4 /dev/sda1 rw\ngarbage line\n")
        } throws: { error in
            guard case MountError.malformedMountInfo(let line, let text) = error else { return false }
            return line == 2 && text == "garbage line"
        }
    }

    @Test func theLiveTableParses() async throws {
        let table = try await SystemMountManager(runner: InMemoryCommandRunner()).mountTable()
        #expect(table.entry(at: "/") != nil)
    }
}
