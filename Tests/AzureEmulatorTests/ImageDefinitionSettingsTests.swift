import Foundation
import Testing

@testable import AzureEmulator

/// A gallery image definition's settings: kept as given, and on an update changed only where
/// Azure lets them change.
@Suite("Image definition settings")
struct ImageDefinitionSettingsTests {
    static let settings: JSON = [
        "description": "first", "eula": "be nice", "privacyStatementUri": "https://example.com/privacy",
        "releaseNoteUri": "https://example.com/notes", "endOfLifeDate": "2030-01-01",
        "recommended": ["vCPUs": ["min": 2, "max": 8], "memory": ["min": 4, "max": 32]],
        "disallowed": ["diskTypes": ["Standard_LRS"]], "architecture": "arm64",
        "features": [
            ["name": "SecurityType", "value": "trustedlaunchsupported"],
            ["name": "DiskControllerTypes", "value": "SCSI, NVMe"],
            ["name": "IsAcceleratedNetworkSupported", "value": "True"],
            ["name": "IsHibernateSupported", "value": "False"]
        ]
    ]

    @Test func aDefinitionKeepsItsSettings() async throws {
        try await withEmulator { h in
            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "d", properties: Self.settings))
            let got = try await h.send("GET", h.definitionPath(gallery: "g", definition: "d")).json
            #expect(got?.at("properties", "eula")?.stringValue == "be nice")
            #expect(got?.at("properties", "architecture")?.stringValue == "Arm64")
            #expect(got?.at("properties", "endOfLifeDate")?.stringValue == "2030-01-01T00:00:00+00:00")
            #expect(got?.at("properties", "recommended", "vCPUs", "max")?.intValue == 8)
            #expect(
                got?.at("properties", "features")?.arrayValue?.first?["value"]?.stringValue == "TrustedLaunchSupported")
            #expect(got?.at("properties", "features")?.arrayValue?.count == 4)
            #expect(got?.at("properties", "privacyStatementUri")?.stringValue == "https://example.com/privacy")
            let bogus = try await h.putDefinition(
                gallery: "g", definition: "e", properties: ["features": [["name": "SecurityType", "value": "Shielded"]]]
            )
            #expect(bogus.status == 400)
            #expect(
                bogus.json?.at("error", "message")?.stringValue?.hasPrefix(
                    "The value 'Shielded' for feature 'SecurityType' is invalid.") == true)
            let v1 = try await h.putDefinition(
                gallery: "g", definition: "f",
                properties: ["hyperVGeneration": "V1", "features": [["name": "SecurityType", "value": "TrustedLaunch"]]]
            )
            #expect(v1.status == 400)
        }
    }

    @Test func updatesChangeOnlyWhatAzureLetsChange() async throws {
        try await withEmulator { h in
            _ = try await h.waitForOperation(
                try await h.putDefinition(gallery: "g", definition: "d", properties: Self.settings))
            let path = h.definitionPath(gallery: "g", definition: "d")
            let mutable = try await h.send(
                "PATCH", path,
                json: [
                    "properties": [
                        "description": "second", "endOfLifeDate": "2031-01-01T00:00:00Z",
                        "releaseNoteUri": "https://example.com/notes2", "recommended": ["vCPUs": ["min": 4, "max": 16]],
                        "disallowed": ["diskTypes": []], "eula": "be nice"
                    ]
                ])
            #expect(mutable.status == 200)
            _ = try await h.waitForOperation(mutable)
            let got = try await h.send("GET", path).json
            #expect(got?.at("properties", "description")?.stringValue == "second")
            #expect(got?.at("properties", "releaseNoteUri")?.stringValue == "https://example.com/notes2")

            for (name, value): (String, JSON) in [
                ("eula", "be mean"), ("privacyStatementUri", "https://example.com/other"), ("osState", "Specialized"),
                ("hyperVGeneration", "V1"), ("architecture", "x64"), ("osType", "Windows"),
                ("identifier", ["publisher": "p", "offer": "o", "sku": "other"])
            ] {
                let refused = try await h.send("PATCH", path, json: ["properties": [name: value]])
                #expect(refused.status == 409, "\(name)")
                #expect(refused.errorCode == "PropertyChangeNotAllowed")
                #expect(
                    refused.json?.at("error", "message")?.stringValue
                        == "Changing property 'galleryImage.properties.\(name)' is not allowed.")
            }
            let features: JSON = [["name": "SecurityType", "value": "TrustedLaunch", "startsAtVersion": "2.0.0"]]
            let withoutPermission = try await h.send("PATCH", path, json: ["properties": ["features": features]])
            #expect(withoutPermission.status == 409)
            #expect(
                withoutPermission.json?.at("error", "message")?.stringValue
                    == "Changing property 'galleryImage.properties.features' is not allowed.")
            let allowed = try await h.send(
                "PUT", path,
                json: [
                    "location": "westus",
                    "properties": Self.settings.merging(["allowUpdateImage": true, "features": features])
                ])
            #expect(allowed.status == 200)
            #expect(allowed.json?.at("properties", "allowUpdateImage") == nil)
            #expect(
                allowed.json?.at("properties", "features")?.arrayValue?.first?["startsAtVersion"]?.stringValue
                    == "2.0.0")
            // Repeating every setting (a re-PUT of the same body, in other casing) changes nothing.
            let same = try await h.send(
                "PUT", path, json: ["location": "westus", "properties": Self.settings.merging(["features": features])])
            #expect(same.status == 200)
        }
    }
}
