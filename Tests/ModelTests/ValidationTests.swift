import Foundation
import Model
import TestSupport
import Testing

/// A small valid build, to which each test adds one mistake.
let validBuild = """
    builds:
      - name: web
        source:
          platformImage: Canonical:ubuntu-24_04-lts:server:latest
        provision:
          - shell: [echo hi]
        outputs:
          image:
            id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/images/web
    """

extension ManifestLoader.Result {
    /// The error lines as `LINE:COL: message`, for compact expectations.
    var errorPlaces: [String] { errors.map { "\($0.location.line):\($0.location.column)" } }
    func hasError(at line: Int, _ column: Int, containing text: String) -> Bool {
        errors.contains { $0.location.line == line && $0.location.column == column && $0.description.contains(text) }
    }
}

@Suite struct ExampleManifests {
    @Test func everyExampleInManifestsIsValid() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Repository.manifests.path).filter {
            $0.hasSuffix(".yaml")
        }
        #expect(files.count >= 6)
        for f in files {
            let result = ManifestLoader.load(path: Repository.manifests.appendingPathComponent(f).path)
            #expect(result.errors.isEmpty, "\(f): \(result.errors)")
            #expect(result.manifest != nil)
        }
    }

    @Test func quickstartHasPlatformSourceTwoStepsAndBothOutputsInTwoRegions() throws {
        let result = ManifestLoader.load(path: Repository.manifests.appendingPathComponent("quickstart.yaml").path)
        let build = try #require(result.manifest?.builds.first)
        guard case .platformImage(let urn) = build.source else {
            Issue.record("not a platform source")
            return
        }
        #expect(urn.isLatest)
        #expect(build.provision.count == 2)
        #expect(build.outputs.image != nil)
        #expect(build.outputs.gallery?.targetRegions.count == 2)
    }

    @Test func everySourceKindAndDataDisksHaveAnExample() throws {
        var kinds: Set<String> = []
        var dataDisks = 0
        for f in try FileManager.default.contentsOfDirectory(atPath: Repository.manifests.path)
        where f.hasSuffix(".yaml") {
            let m = try #require(
                ManifestLoader.load(path: Repository.manifests.appendingPathComponent(f).path).manifest)
            for b in m.builds {
                kinds.insert(b.source.kindName)
                dataDisks += b.disk.dataDisks.count
            }
        }
        #expect(kinds == ["platformImage", "disk", "galleryImageVersion", "scratch"])
        #expect(dataDisks >= 2)
    }
}

@Suite struct ValidationErrors {
    @Test func validManifestHasNoDiagnostics() throws {
        let r = try loadManifest(validBuild)
        #expect(r.diagnostics.isEmpty)
        #expect(r.manifest?.builds.map(\.name) == ["web"])
    }

    @Test func yamlSyntaxErrorNamesLineAndColumn() throws {
        let r = try loadManifest("builds:\n  - name: a\n   bad: [\n")
        #expect(r.manifest == nil)
        let e = try #require(r.errors.first)
        #expect(e.description.hasPrefix("kiln.yaml:"))
        #expect(e.message.contains("YAML syntax error"))
        #expect(e.location.line >= 3)
    }

    @Test func tabIndentationGetsAFix() throws {
        let r = try loadManifest("builds:\n\t- name: a\n")
        #expect(r.errors.first?.fix.contains("spaces") == true)
    }

    @Test func unknownKeySuggestsTheClosestKnownKey() throws {
        let r = try loadManifest(validBuild.replacingOccurrences(of: "    provision:", with: "    provison:"))
        #expect(r.hasError(at: 5, 5, containing: "unknown key 'provison' in builds[0] — did you mean 'provision'?"))
    }

    @Test func packerKeyPointsToKilnName() throws {
        let r = try loadManifest(validBuild + "\n    os_disk_size_gb: 40\n")
        #expect(r.errors.count == 1)
        #expect(r.errors[0].description.contains("Packer's 'os_disk_size_gb' is `disk.sizeGB` in Kiln"))
    }

    @Test func wrongTypesAreReportedWithTheExpectedType() throws {
        let text = validBuild + "\n    disk:\n      sizeGB: forty\n      dataDisks: {lun: 0}\n    tags: [a, b]\n"
        let r = try loadManifest(text)
        #expect(
            r.hasError(
                at: 11, 15, containing: "builds[0].disk.sizeGB must be a whole number of GiB, not a string ('forty')"))
        #expect(r.hasError(at: 12, 18, containing: "builds[0].disk.dataDisks must be a list, not a mapping"))
        #expect(r.hasError(at: 13, 11, containing: "builds[0].tags must be a mapping of names to values, not a list"))
    }

    @Test func missingRequiredFieldsAreEachReported() throws {
        let r = try loadManifest("builds:\n  - provision: []\n")
        let text = r.errors.map(\.description).joined(separator: "\n")
        #expect(text.contains("builds[0].name is required"))
        #expect(text.contains("builds[0].source is required"))
        #expect(text.contains("builds[0].outputs is required"))
    }

    @Test func badEnumListsAllowedValuesAndSuggests() throws {
        let r = try loadManifest(validBuild + "\n    disk:\n      storageAccountType: Premium_LSR\n")
        let e = try #require(r.errors.first)
        #expect(e.location.line == 11 && e.location.column == 27)
        #expect(e.message.contains("Standard_LRS, Premium_LRS, StandardSSD_LRS"))
        #expect(e.fix.contains("did you mean 'Premium_LRS'?"))
    }

    @Test func enumValuesMatchCaseInsensitivelyAndAreCanonicalised() throws {
        let r = try loadManifest(
            validBuild + "\n    disk:\n      storageAccountType: premium_lrs\n      cacheType: readwrite\n")
        #expect(r.errors.isEmpty)
        #expect(r.manifest?.builds[0].disk.storageAccountType == .premiumLRS)
        #expect(r.manifest?.builds[0].disk.cacheType == .readWrite)
    }

    @Test func malformedResourceIDsAreRejected() throws {
        let text =
            validBuild
            .replacingOccurrences(
                of: "platformImage: Canonical:ubuntu-24_04-lts:server:latest",
                with: "disk: /subscriptions/x/resourceGroups/rg/disks/d"
            )
            .replacingOccurrences(
                of: "providers/Microsoft.Compute/images/web", with: "providers/Microsoft.Compute/disks/web")
        let r = try loadManifest(text)
        #expect(r.hasError(at: 4, 13, containing: "is not an Azure resource id"))
        #expect(r.hasError(at: 9, 13, containing: "is a Microsoft.Compute/disks id, not a Microsoft.Compute/images id"))
    }

    @Test func malformedImageURNsAreRejected() throws {
        for bad in [
            "Canonical:ubuntu:latest", "Canonical::server:latest", "Canonical:ubuntu:server:1.x",
            "Canonical:ub untu:server:latest"
        ] {
            let r = try loadManifest(
                validBuild.replacingOccurrences(of: "Canonical:ubuntu-24_04-lts:server:latest", with: "'\(bad)'"))
            #expect(r.errors.count == 1, "\(bad)")
            #expect(r.errors.first?.message.contains("is not a platform image URN") == true, "\(bad)")
        }
    }

    @Test func badGalleryVersionsAreRejected() throws {
        for bad in ["1.0", "1.0.x", "v1.0.0", "1.0.0.0", "99999999999.0.0"] {
            let text =
                validBuild + """

                          gallery:
                            resourceGroup: rg
                            gallery: g
                            imageDefinition: d
                            version: "\(bad)"
                            targetRegions: [eastus]
                    """
            let r = try loadManifest(text)
            #expect(r.errors.count == 1, "\(bad): \(r.errors)")
            #expect(r.errors.first?.message.contains("is not MAJOR.MINOR.PATCH") == true, "\(bad)")
        }
    }

    @Test func duplicateBuildNamesAreRejected() throws {
        let second = validBuild.replacingOccurrences(of: "builds:\n", with: "").replacingOccurrences(
            of: "images/web", with: "images/web2")
        let r = try loadManifest(validBuild + "\n" + second)
        #expect(r.errors.count == 1)
        #expect(r.errors[0].message.contains("build name 'web' is used twice (first at line 2)"))
        #expect(r.errors[0].location.line == 10)
    }

    @Test func twoSourcesConflict() throws {
        let r = try loadManifest(
            validBuild.replacingOccurrences(
                of: "      platformImage:", with: "      scratch: {sizeGB: 4}\n      platformImage:"))
        #expect(r.errors.contains { $0.message.contains("source has both platformImage and scratch") })
    }

    @Test func scratchNeedsPreMountCommandsAndRejectsLVMAndDiskSize() throws {
        let text =
            validBuild.replacingOccurrences(
                of: "platformImage: Canonical:ubuntu-24_04-lts:server:latest", with: "scratch: {sizeGB: 4}")
            + "\n    disk: {sizeGB: 8}\n    mount: {lvmRootDevice: /dev/vg/root}\n"
        let r = try loadManifest(text)
        let all = r.errors.map(\.description).joined(separator: "\n")
        #expect(all.contains("starts from scratch but has no mount.preMountCommands"))
        #expect(all.contains("mount.lvmRootDevice cannot be used with a scratch source"))
        #expect(all.contains("disk.sizeGB conflicts with source.scratch.sizeGB"))
    }

    @Test func skipConflictsWithOutputsAndOutputsAreRequired() throws {
        let r = try loadManifest(validBuild + "\n      skip: true\n")
        #expect(r.errors.contains { $0.message.contains("outputs.skip: true conflicts") })
        let none = try loadManifest(
            validBuild.replacingOccurrences(
                of:
                    "      image:\n        id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/images/web",
                with: "      skip: false"))
        #expect(none.errors.contains { $0.message.contains("outputs names neither an image nor a gallery version") })
    }

    @Test func templateSyntaxErrorsPointInsideTheString() throws {
        let line =
            "      - shell:\n          - echo {{.Devce}} {{vm \"zonee\"}} {{env HOME}}\n          - 'echo {{.MountPath'"
        let r = try loadManifest(validBuild.replacingOccurrences(of: "      - shell: [echo hi]", with: line))
        let errors = r.errors
        #expect(errors.count == 4, "\(errors)")
        #expect(r.hasError(at: 7, 18, containing: "'.Devce' is not available here — did you mean .Device?"))
        #expect(r.hasError(at: 7, 29, containing: "vm has no key \"zonee\""))
        #expect(r.hasError(at: 7, 44, containing: "env needs a quoted variable name"))
        #expect(r.hasError(at: 8, 19, containing: "'{{' is never closed"))
    }

    @Test func templateVariablesDependOnTheField() throws {
        let text =
            validBuild + "\n    mount:\n      preMountCommands: ['echo {{.MountPath}}']\n      commandWrapper: sudo\n"
        let r = try loadManifest(text)
        #expect(
            r.errors.contains {
                $0.message.contains("'.MountPath' is not available here") && $0.fix.contains(".BuildName, .Device")
            })
        #expect(r.errors.contains { $0.message.contains("does not use {{.Command}}") })
    }

    @Test func templateErrorInBlockScalarHasItsOwnLine() throws {
        let text = validBuild.replacingOccurrences(
            of: "      - shell: [echo hi]",
            with: "      - shell:\n          - |\n            echo one\n            echo {{.Nope}}\n")
        let r = try loadManifest(text)
        #expect(r.hasError(at: 9, 18, containing: "'.Nope' is not available here"))
    }

    @Test func missingProvisioningFilesAreReported() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("scripts/real.sh", "echo hi\n")
        let text = validBuild.replacingOccurrences(
            of: "      - shell: [echo hi]",
            with: """
                      - script: scripts/missing.sh
                      - script: scripts/real.sh
                      - upload: {source: files/none, destination: /etc/none}
                      - script: scripts
                """)
        let r = try loadManifest(text, in: dir)
        #expect(r.hasError(at: 6, 17, containing: "builds[0].provision[0].script 'scripts/missing.sh' does not exist"))
        #expect(r.hasError(at: 8, 26, containing: "builds[0].provision[2].upload.source 'files/none' does not exist"))
        #expect(
            r.hasError(at: 9, 17, containing: "builds[0].provision[3].script 'scripts' is a directory, not a script"))
        #expect(r.errors.count == 3)
    }

    @Test func everyProblemIsReportedAtOnceInFileOrder() throws {
        let text = """
            builds:
              - name: "bad name!"
                source:
                  platformImage: nope
                disk:
                  sizeGB: 0
                  cacheType: Sometimes
                provision:
                  - shell: [ok]
                    unknownThing: 1
                outputs:
                  gallery:
                    resourceGroup: rg
                    gallery: my-gallery
                    imageDefinition: d
                    version: "1"
            """
        let r = try loadManifest(text)
        #expect(r.errorPlaces == ["2:11", "4:22", "6:15", "7:18", "10:9", "14:18", "16:18"], "\(r.errors)")
        #expect(r.warnings.count == 1)
        for e in r.errors {
            #expect(e.description.hasPrefix("kiln.yaml:\(e.location.line):\(e.location.column): error: "))
            #expect(e.description.contains(" — "))
        }
    }

    @Test func warningsDoNotFail() throws {
        let text = validBuild + "\n      gallery: {resourceGroup: rg, gallery: g, imageDefinition: d, version: 1.0.0}\n"
        let r = try loadManifest(text)
        #expect(r.errors.isEmpty)
        #expect(r.manifest != nil)
        #expect(
            r.warnings.first?.description.contains("warning: builds[0].outputs.gallery has no targetRegions") == true)
    }

    @Test func duplicateKeysAreErrors() throws {
        let r = try loadManifest(validBuild + "\n    tags: {a: b}\n    tags: {c: d}\n")
        #expect(r.errors.contains { $0.message.contains("duplicate key 'tags'") })
    }

    @Test func mergeKeysAreResolved() throws {
        let text = """
            x-common: &common
              source:
                platformImage: Canonical:ubuntu-24_04-lts:server:22.04.202401010
              outputs:
                skip: true
            builds:
              - <<: *common
                name: a
              - <<: *common
                name: b
            """
        let r = try loadManifest(text)
        // x-common is not a Kiln key; everything else resolves through the merge.
        #expect(r.errors.count == 1)
        #expect(r.errors.first?.message.contains("unknown key 'x-common'") == true)
    }

    @Test func secretsCannotBeWrittenInTheManifest() throws {
        let r = try loadManifest(
            "azure:\n  credential:\n    kind: clientSecret\n    clientId: 11111111-1111-1111-1111-111111111111\n    clientSecret: hunter2\n"
                + validBuild)
        #expect(r.errors.contains { $0.message.contains("would put a secret in the manifest") })
        #expect(r.errors.contains { $0.message.contains("needs azure.credential.clientSecretEnv") })
        #expect(!r.diagnostics.contains { $0.description.contains("hunter2") })
    }

    @Test func customCloudNeedsMetadataEndpoint() throws {
        let r = try loadManifest("azure:\n  cloud: custom\n" + validBuild)
        #expect(r.errors.first?.message.contains("cloud: custom needs azure.metadataEndpoint") == true)
    }
}

@Suite struct Defaults {
    @Test func defaultsFollowWhatUsersExpect() throws {
        let text =
            validBuild
            + "\n      gallery:\n        resourceGroup: rg\n        gallery: g\n        imageDefinition: d\n        version: 1.0.0\n        targetRegions: [eastus, {name: West Europe}]\n"
        let b = try #require(try loadManifest(text).manifest?.builds.first)
        #expect(b.outputs.gallery?.targetRegions == [TargetRegion(name: "eastus"), TargetRegion(name: "westeurope")])
        #expect(
            b.outputs.gallery?.targetRegions.allSatisfy { $0.replicas == 1 && $0.storageAccountType == .standardLRS }
                == true)
        #expect(b.mount.partition == .number(1))
        #expect(b.mount.path == "/mnt/kiln/{{.BuildName}}")
        #expect(b.mount.chrootMounts == ChrootMount.defaults)
        #expect(b.mount.copyFiles == ["/etc/resolv.conf"])
        #expect(b.mount.commandWrapper == "{{.Command}}")
        #expect(b.disk.storageAccountType == .standardLRS)
        #expect(b.disk.cacheType == .readOnly)
        #expect(b.timeouts.deviceWait == Seconds(180))
        #expect(b.provision[0].name == "shell-1")
        #expect(!b.temporary.keep)
    }

    @Test func emptyChrootMountsMeansNoneAndScratchCopiesNoFiles() throws {
        let text =
            validBuild.replacingOccurrences(
                of: "platformImage: Canonical:ubuntu-24_04-lts:server:latest", with: "scratch: {sizeGB: 4}")
            + "\n    mount:\n      chrootMounts: []\n      preMountCommands: ['mkfs.ext4 {{.Device}}']\n      partition: whole\n"
        let b = try #require(try loadManifest(text).manifest?.builds.first)
        #expect(b.mount.chrootMounts.isEmpty)
        #expect(b.mount.copyFiles.isEmpty)
        #expect(b.mount.partition == .whole)
        #expect(b.disk.hyperVGeneration == .v1)
    }

    @Test func packerStyleChrootMountTriplesAreAccepted() throws {
        let r = try loadManifest(
            validBuild + "\n    mount:\n      chrootMounts:\n        - [proc, proc, /proc]\n        - [bind, /dev]\n")
        #expect(r.errors.count == 1)
        #expect(r.errors[0].message.contains("has 2 items; a chroot mount is [type, source, target]"))
    }

    @Test func printedManifestLoadsBackToTheSameManifest() throws {
        let original = try #require(
            ManifestLoader.load(path: Repository.manifests.appendingPathComponent("data-disks.yaml").path).manifest)
        let printed = try original.defaultedYAML()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let again = try #require(try loadManifest(printed, in: dir).manifest)
        var a = original
        var b = again
        a.file = ""
        b.file = ""
        #expect(a == b)
    }
}
