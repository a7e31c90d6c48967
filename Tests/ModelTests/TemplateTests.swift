import Foundation
import Model
import TestSupport
import Testing

@Suite struct Templates {
    let values = TemplateValues(
        variables: [
            "Device": "/dev/sdc", "MountPath": "/mnt/kiln/my build", "Command": "mount -o ro /dev/sdc1 '/mnt/x y'"
        ],
        vm: ["location": "eastus", "name": "vm; rm -rf /"],
        environment: ["TOKEN": "a'b$(c)"])

    @Test func rendersVariablesVMAndEnvInPlainFields() throws {
        let t = try Template(
            parsing: "{{.Device}} in {{vm \"location\"}} with {{env \"TOKEN\"}} and {{env \"UNSET\"}}.",
            allowed: ["Device"])
        #expect(try t.render(values, mode: .plain) == "/dev/sdc in eastus with a'b$(c) and .")
    }

    @Test func shellFieldsQuoteEveryValueButTheCommand() throws {
        let t = try Template(
            parsing: "echo {{.MountPath}} {{vm \"name\"}} {{env \"TOKEN\"}} {{.Device}}1",
            allowed: ["MountPath", "Device"])
        let rendered = try t.render(values, mode: .shell)
        #expect(rendered == "echo '/mnt/kiln/my build' 'vm; rm -rf /' 'a'\\''b$(c)' /dev/sdc1")
        let wrapper = try Template(parsing: "sudo -n {{.Command}}", allowed: ["Command"])
        #expect(try wrapper.render(values, mode: .shell) == "sudo -n mount -o ro /dev/sdc1 '/mnt/x y'")
        let quoted = try Template(parsing: "sh -c {{quote .Command}}", allowed: ["Command"])
        #expect(try quoted.render(values, mode: .shell) == "sh -c 'mount -o ro /dev/sdc1 '\\''/mnt/x y'\\'''")
    }

    @Test func renderedShellValuesCannotInjectCommands() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let marker = dir.url.appendingPathComponent("pwned").path
        let hostile = TemplateValues(variables: [
            "Device": "x; touch \(marker); echo $(touch \(marker)) `touch \(marker)`"
        ])
        let t = try Template(parsing: "printf '%s' {{.Device}}", allowed: ["Device"])
        let command = try t.render(hostile, mode: .shell)
        let out = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", command])
        #expect(out.status == 0)
        #expect(out.stdout == "x; touch \(marker); echo $(touch \(marker)) `touch \(marker)`")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func unresolvedVMMetadataCanBeKeptOrIsAnError() throws {
        let t = try Template(parsing: "/subscriptions/{{vm \"subscription_id\"}}/x", allowed: [])
        #expect(
            try t.render(TemplateValues(), mode: .plain, keepUnresolved: true)
                == "/subscriptions/{{vm \"subscription_id\"}}/x")
        #expect(throws: TemplateRenderError.self) { try t.render(TemplateValues(), mode: .plain) }
    }

    @Test func syntaxErrorsAreListedWithOffsets() {
        let problems = Template.problems(
            in: "a {{}} b {{.X}} {{vm}} {{frob 1}} {{\"s\"}} {{env \"A\" \"B\"}} {{", allowed: [])
        #expect(problems.map(\.offset) == [2, 9, 16, 23, 34, 42, 58])
        #expect(problems[0].message.contains("is empty"))
        #expect(problems[1].fix.contains("this field takes no .Variables"))
        #expect(problems[2].message.contains("vm needs a quoted key"))
        #expect(problems[3].message.contains("'frob' is not a template function"))
        #expect(problems[4].message.contains("is only a string"))
        #expect(problems[5].message.contains("unexpected"))
        #expect(problems[6].message.contains("never closed"))
    }

    @Test func textWithoutActionsIsLiteral() throws {
        let t = try Template(parsing: "plain } text { here", allowed: [])
        #expect(t.isLiteral)
        #expect(try t.render(TemplateValues(), mode: .shell) == "plain } text { here")
    }
}

@Suite struct Quoting {
    @Test func safeWordsStayReadable() {
        #expect(ShellQuote.quote("/dev/sdc1") == "/dev/sdc1")
        #expect(ShellQuote.quote("b,c:d@e%f+g") == "b,c:d@e%f+g")
        // `=` is quoted: a bare `A=b` first on a command line is an assignment, not a word.
        #expect(ShellQuote.quote("A=b") == "'A=b'")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("it's") == "'it'\\''s'")
    }

    @Test func awkwardStringsRoundTripThroughTheShell() async throws {
        let samples = [
            "", " ", "'", "''", "\"", "\\", "$HOME", "$(id)", "`id`", "a b\tc\nd", "*?[]{}", "~root", "!event",
            "; rm -rf /", "é ü 漢字 🔥", "-n", "--", "#comment", "a'b\"c$d`e\\f"
        ]
        var rng = SeededRandom(seed: 7)
        var all = samples
        for _ in 0..<50 {
            all.append(
                String(
                    (0..<Int.random(in: 0...12, using: &rng)).map { _ in
                        Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &rng)))
                    }))
        }
        for s in all {
            let out = try await runProcess(
                URL(fileURLWithPath: "/bin/sh"), ["-c", "printf '%s' " + ShellQuote.quote(s)])
            #expect(out.stdout == s, "\(s.debugDescription)")
        }
    }
}
