import Foundation
import Planner
import Testing

@Suite struct ActionStepTests {
    /// One step of every kind, with the data that names it.
    static let everyStep: [ActionStep] = [
        .resolveSource, .createDisk(.os), .takeOver(.os), .attach(.data(lun: 1)), .device(.data(lun: 12)), .preMount,
        .mount,
        .postMount, .chrootMounts, .copyFiles, .provision(step: "install nginx"), .preUnmount, .restoreFiles, .unmount,
        .detach(.os), .image, .galleryDefinition, .galleryVersion, .updateGalleryVersion,
        .replicate(region: "West US 2"), .deleteSnapshot(.os), .deleteDisk(.data(lun: 3)),
        .releaseLeftover(disk: "kiln-web-0123456789-os"), .deleteImage, .deleteGalleryVersion
    ]

    @Test func everyKindHasAStepAndEveryStepItsKind() {
        #expect(Set(Self.everyStep.map(\.kind)) == Set(ActionKind.allCases))
    }

    @Test func anActionIDPrintsAsBeforeAndParsesBackToTheSameStep() throws {
        #expect(ActionID("web", .attach(.data(lun: 1))).description == "web/attach[lun1]")
        #expect(ActionID("web", .provision(step: "setup")).description == "web/provision[setup]")
        #expect(ActionID("web", .replicate(region: "westus2")).description == "web/replicate[westus2]")
        #expect(ActionID("web", .galleryDefinition).description == "web/gallery-definition")
        for step in Self.everyStep {
            let id = ActionID("web", step)
            #expect(ActionID(parsing: id.description) == id)
            let json = try JSONEncoder().encode([id])
            #expect(try JSONDecoder().decode([String].self, from: json) == [id.description])
            #expect(try JSONDecoder().decode([ActionID].self, from: json) == [id])
        }
    }

    @Test func aTargetThatDoesNotFitTheKindNamesNoAction() {
        #expect(ActionID(parsing: "web/attach") == nil)
        #expect(ActionID(parsing: "web/attach[data]") == nil)
        #expect(ActionID(parsing: "web/detach[lunx]") == nil)
        // A step earlier Kilns had (they captured through snapshots) names no action now.
        #expect(ActionID(parsing: "web/snapshot[os]") == nil)
        #expect(ActionID(parsing: "web/mount[os]") == nil)
        #expect(ActionID(parsing: "web/provision") == nil)
        #expect(ActionID(parsing: "web/provision[]") == nil)
        #expect(ActionID(parsing: "web/replicate") == nil)
        #expect(ActionID(parsing: "web/launch") == nil)
        #expect(ActionStep(kind: .deleteDisk, target: "lun2") == .deleteDisk(.data(lun: 2)))
    }

    @Test func theDiskRoleIsThatOfTheDiskKindsOnly() {
        #expect(ActionStep.deleteSnapshot(.data(lun: 2)).diskRole == .data(lun: 2))
        #expect(ActionStep.provision(step: "os").diskRole == nil)
        #expect(ActionStep.mount.diskRole == nil)
    }
}
