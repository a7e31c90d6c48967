import Foundation
import Providers
import Testing

@Suite("Shell quoting")
struct ShellQuoteTests {
    @Test func wrapsInSingleQuotesAndEscapesEmbeddedQuotes() {
        #expect(shellQuote("") == "''")
        #expect(shellQuote("a b") == "'a b'")
        #expect(shellQuote("it's") == #"'it'\''s'"#)
        #expect(shellQuote("$(echo hi)") == "'$(echo hi)'")
    }

    static let awkward: [String] = [
        "", " ", "plain", "two words", "it's", "''", "'", "\"", "\"'\"", "$HOME", "${HOME}", "$(echo hi)", "`echo hi`",
        "\\", "\\'", "a\\nb", "line1\nline2", "\n", "tab\there", "*", "?", "[a-z]", "~", "~root", "-n", "-e", "--",
        "!", "!!", "#comment", "a;b", "a&&b", "a|b", "a>b", "<", "(x)", "{a,b}", "ünïcødé ✓", "emoji 🦊", "%s%d", "a=b"
    ]

    /// Strings drawn from an alphabet of the characters shells treat specially, from a
    /// fixed seed so a failure reproduces.
    static func generated(count: Int) -> [String] {
        let alphabet = Array("'\"\\$`!*?[]{}()<>|&;#~ \t\n=%^-.aZ9é✓")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        return (0..<count).map { _ in
            String((0..<Int(next() % 24)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] })
        }
    }

    @Test func everyValueRoundTripsThroughShAsOneWord() async throws {
        let values = Self.awkward + Self.generated(count: 300)
        // One shell: each quoted value becomes one printf argument, NUL-terminated.
        let script = "printf '%s\\0' " + values.map(shellQuote).joined(separator: " ")
        let result = try await ProcessCommandRunner().runChecked(CommandSpec(script, captureStdout: true))
        var words = result.stdout.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        #expect(words.last == "")
        words.removeLast()
        #expect(words == values)
    }

    @Test func commandLineSplitsBackIntoTheSameArguments() async throws {
        let arguments = ["a b", "it's", "$(touch /nonexistent-kiln-marker)", "", "*"]
        let script = "set -- \(shellCommandLine(arguments)); for a in \"$@\"; do printf '%s\\0' \"$a\"; done"
        let result = try await ProcessCommandRunner().runChecked(CommandSpec(script, captureStdout: true))
        #expect(
            result.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
                == arguments)
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent-kiln-marker"))
    }
}
