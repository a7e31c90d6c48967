import Foundation
import Testing

@testable import Model

/// `AzureDateTime`: a manifest's bare date is midnight UTC, Azure's spellings of one instant
/// are equal, and what Kiln sends is RFC 3339.
@Suite struct AzureDateTimeTests {
    @Test func aBareDateIsMidnightUTCAndIsSentAsRFC3339() throws {
        let date = try #require(AzureDateTime(parsing: "2030-12-31"))
        #expect(date.rfc3339 == "2030-12-31T00:00:00Z")
        #expect(date.azureSpelling == "2030-12-31T00:00:00+00:00")
    }

    @Test func spellingsOfOneInstantAreEqual() throws {
        let spellings = [
            "2030-12-31", "2030-12-31T00:00:00Z", "2030-12-31T00:00:00+00:00", "2030-12-31T02:00:00+02:00",
            "2030-12-31T00:00:00.000Z"
        ]
        let parsed = try spellings.map { try #require(AzureDateTime(parsing: $0), "\($0)") }
        #expect(Set(parsed).count == 1)
        #expect(AzureDateTime(parsing: "2030-12-31T00:00:01Z")! > parsed[0])
    }

    @Test func notADateIsRefused() {
        for text in ["", "31/12/2030", "2030-13-01", "tomorrow", "2030-12-31T25:00:00Z"] {
            #expect(AzureDateTime(parsing: text) == nil, "\(text)")
        }
    }

    @Test func itRoundTripsThroughJSONAsItsRFC3339String() throws {
        let date = try #require(AzureDateTime(parsing: "2030-12-31"))
        let data = try JSONEncoder().encode([date])
        #expect(String(decoding: data, as: UTF8.self) == #"["2030-12-31T00:00:00Z"]"#)
        #expect(try JSONDecoder().decode([AzureDateTime].self, from: data) == [date])
    }
}
