import Foundation
import Model
import Planner
import Providers
import Testing

@testable import Reconciler

@Suite struct ActionOutcomeTests {
    static let disk = try! ResourceID(parsing: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d")
    static let image = try! ResourceID(
        parsing: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/web")

    @Test func theJournalFormKeepsTheKeysAndTextKilnHasAlwaysWritten() {
        let disk = Self.disk.description
        let image = Self.image.description
        #expect(ActionOutcome(device: "/dev/sdc", lun: 0).journaled == ["device": "/dev/sdc", "lun": "0"])
        #expect(
            ActionOutcome(device: "/dev/sdc1", mountPath: "/mnt/kiln/web").journaled
                == ["device": "/dev/sdc1", "mountPath": "/mnt/kiln/web"])
        #expect(
            ActionOutcome(resourceID: Self.image, imageID: Self.image).journaled
                == ["resourceId": image, "imageId": image])
        #expect(
            ActionOutcome(resourceID: Self.disk, galleryImageVersionID: Self.disk).journaled
                == ["resourceId": disk, "galleryImageVersionId": disk])
        #expect(
            ActionOutcome(resourceID: Self.disk, location: "eastus").journaled
                == ["resourceId": disk, "location": "eastus"])
        #expect(
            ActionOutcome(resourceID: Self.disk, region: "westus2").journaled
                == ["resourceId": disk, "region": "westus2"])
        #expect(ActionOutcome(stepDigest: "abc").journaled == [JournalView.stepDigestKey: "abc"])
        #expect(ActionOutcome.none.journaled == [:])
    }

    @Test func everyFieldRoundTripsThroughTheJournal() {
        let full = ActionOutcome(
            resourceID: Self.disk, device: "/dev/sdd", lun: 7, mountPath: "/mnt/kiln/web",
            imageID: Self.image, galleryImageVersionID: Self.disk, location: "eastus",
            region: "westus2", stepDigest: "abc")
        #expect(ActionOutcome(journaled: full.journaled) == full)
    }

    @Test func journaledTextThatDoesNotReadAsItsTypeIsAbsent() {
        let read = ActionOutcome(journaled: ["lun": "x", "resourceId": "not an id", "device": "/dev/sde", "by": "x"])
        #expect(read == ActionOutcome(device: "/dev/sde"))
    }
}
