import Model
import Testing

@Suite struct Identifiers {
    @Test func resourceIDsParseCaseInsensitivelyAndKeepSpelling() throws {
        let id = try ResourceID(
            parsing:
                "subscriptions/S/resourcegroups/RG/Providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0/")
        #expect(id.subscription == "S" && id.resourceGroup == "RG" && id.name == "1.0.0")
        #expect(id.isType("microsoft.compute/GALLERIES/images/versions"))
        #expect(id.parent?.name == "i")
        #expect(
            id
                == (try ResourceID(
                    parsing:
                        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/G/images/I/versions/1.0.0"
                )))
        #expect(
            id.description
                == "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0")
    }

    @Test func malformedResourceIDsSayWhy() {
        let cases: [(String, String)] = [
            ("", "empty"), ("/subscriptions/s/resourceGroups/rg", "too short"),
            ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks", "a type has no name"),
            ("/subs/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d", "must start with /subscriptions/"),
            ("/subscriptions/s/groups/rg/providers/Microsoft.Compute/disks/d", "resourceGroups"),
            ("/subscriptions/s/resourceGroups/rg//providers/Microsoft.Compute/disks/d", "empty segment"),
            ("/subscriptions/s/resourceGroups/r g/providers/Microsoft.Compute/disks/d", "whitespace")
        ]
        for (text, reason) in cases {
            #expect(throws: ResourceIDError.self) { try ResourceID(parsing: text) }
            do { _ = try ResourceID(parsing: text) } catch { #expect(error.reason.contains(reason), "\(text)") }
        }
    }

    @Test func platformImageURNs() throws {
        let latest = try PlatformImageURN(parsing: "Canonical:ubuntu-24_04-lts:server:LATEST")
        #expect(latest.isLatest && latest.description == "Canonical:ubuntu-24_04-lts:server:latest")
        let fixed = try PlatformImageURN(parsing: "Canonical:ubuntu-24_04-lts:server:24.04.202501010")
        #expect(
            fixed.versionID(subscription: "s", location: "eastus")
                == "/subscriptions/s/providers/Microsoft.Compute/locations/eastus/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions/24.04.202501010"
        )
        #expect(throws: PlatformImageURNError.self) { try PlatformImageURN(parsing: "a:b:c") }
        #expect(throws: PlatformImageURNError.self) { try PlatformImageURN(parsing: "a:b:c:1.2.beta") }
    }

    @Test func latestIsTheNumericallyHighestVersion() {
        #expect(ImageVersionOrder.highest(["1.9.9", "1.10.0", "1.2.100"]) == "1.10.0")
        #expect(ImageVersionOrder.highest(["22.04.202409010", "22.04.202410020", "22.04.99"]) == "22.04.202410020")
        #expect(ImageVersionOrder.less("1.0", "1.0.0"))
        #expect(ImageVersionOrder.highest([]) == nil)
    }

    @Test func durations() {
        #expect(Seconds(parsing: "90s")?.value == 90)
        #expect(Seconds(parsing: "1h30m")?.value == 5400)
        #expect(Seconds(parsing: "15m")?.description == "15m")
        #expect(Seconds(90).description == "1m30s")
        for bad in ["", "10", "m", "1m1h", "1x", "-5s", "1.5h", "99999999h"] {
            #expect(Seconds(parsing: bad) == nil, "\(bad)")
        }
    }
}
