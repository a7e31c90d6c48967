import Foundation
import Model
import TestSupport
import Testing

/// Reading templates: HCL2 and JSON syntax, variables and references, located errors.
@Suite struct PackerImportParser {
    @Test func hclBlocksHeredocsCommentsListsAndMapsAreRead() throws {
        let r = try importPacker(
            chrootTemplate(
                """
                  # a comment
                  mount_options = ["noatime", // another
                    "nodiratime"]
                  /* a block
                     comment */
                  os_disk_size_gb = 40
                """,
                provisioners: """
                      provisioner "shell" {
                        inline = [<<-EOT
                          cd /etc
                          echo "$${HOME}" > home
                        EOT
                        ]
                        env = { A = "1", B = true }
                      }
                    """))
        let yaml = try #require(r.manifest, "\(r.diagnostics)")
        #expect(yaml.contains("- noatime\n"))
        #expect(yaml.contains("- nodiratime\n"))
        #expect(yaml.contains("sizeGB: 40"))
        #expect(yaml.contains("cd /etc\n"))
        #expect(yaml.contains("echo \"${HOME}\" > home"))
        #expect(yaml.contains("A: '1'") || yaml.contains("A: \"1\""))
        #expect(yaml.contains("B: 'true'"))
    }

    @Test func variablesTakeDefaultsThenFilesThenTheCommandLine() throws {
        let text = """
            variable "version" {
              default = "1.0.0"
            }
            variable "size" {
              type    = number
              default = 30
            }
            locals { name = "img-${var.version}" }
            source "azure-chroot" "web" {
              source          = "Canonical:ubuntu-24_04-lts:server:latest"
              os_disk_size_gb = var.size + 10
              shared_image_destination {
                resource_group = "rg"
                gallery_name   = "g"
                image_name     = local.name
                image_version  = var.version
              }
            }
            build { sources = ["source.azure-chroot.web"] }
            """
        let plain = try importPacker(text)
        #expect(plain.manifest?.contains("imageDefinition: img-1.0.0") == true, "\(plain.diagnostics)")
        #expect(plain.manifest?.contains("sizeGB: 40") == true)
        let given = try importPacker(
            text, vars: ["version=2.0.0"], varFiles: ["v.pkrvars.hcl": "version = \"1.5.0\"\nsize = 50\n"])
        #expect(given.manifest?.contains("version: '2.0.0'") == true, "\(given.diagnostics)")
        #expect(given.manifest?.contains("sizeGB: 60") == true)
    }

    @Test func aVariableWithoutValueIsAnErrorWhereItIsUsed() throws {
        let r = try importPacker(
            """
            variable "rg" {}
            source "azure-chroot" "web" {
              source            = "Canonical:ubuntu-24_04-lts:server:latest"
              image_resource_id = "/subscriptions/x/resourceGroups/${var.rg}/providers/Microsoft.Compute/images/a"
            }
            build { sources = ["source.azure-chroot.web"] }
            """)
        #expect(r.manifest == nil)
        #expect(r.hasError(4, 58, containing: "var.rg has no value"), "\(r.firstError)")
        #expect(r.firstError.contains("--var rg=VALUE"))
    }

    @Test func anUndeclaredCommandLineVariableIsRefused() throws {
        let r = try importPacker(chrootTemplate(), vars: ["nope=1"])
        #expect(r.firstError.contains("--var nope: the template declares no variable nope"))
    }

    @Test(arguments: [
        ("t.pkr.hcl", "source \"azure-chroot\" \"a\" {\n  source = \"x\n}\n", 2, 12, "the string is not closed"),
        (
            "t.pkr.hcl", "source \"azure-chroot\" \"a\" {\n  source \"x\"\n", 2, 13,
            "expected '=' or a block's '{' after source"
        ),
        ("t.pkr.hcl", "}\n", 1, 1, "unexpected '}'"),
        ("t.pkr.hcl", "build {\n  sources = [\"a\" \"b\"]\n}\n", 2, 18, "expected ',' or ']'"),
        ("t.pkr.hcl", "locals {\n  a = 1 2\n}\n", 2, 9, "unexpected '2' after the value"),
        ("t.pkr.hcl", "/* never closed\n", 1, 1, "the comment is never closed"),
        ("t.pkr.hcl", "locals {\n  a = <<EOF\nline\n", 2, 7, "the heredoc is never closed"),
        ("t.pkr.hcl", "locals {\n  a = [for x in y: x]\n}\n", 2, 8, "for expressions are not supported"),
        ("t.pkr.hcl", "locals {\n  a = \"%{ if true }x%{ endif }\"\n}\n", 2, 8, "template directives"),
        ("t.json", "{\n  \"builders\": [{\"type\": \"azure-chroot\",}]\n}\n", 2, 40, "a trailing comma"),
        ("t.json", "{\n  \"builders\": [\n    {\"type\": \"azure-chroot\"\n  ]\n}\n", 4, 3, "expected ',' or '}'"),
        ("t.json", "{\"variables\": {\"a\": \"unclosed}}\n", 1, 21, "the string is not closed"),
        ("t.json", "{\"provisioners\": [{\"inline\": [\"x\"]}]}", 1, 19, "needs a \"type\""),
        ("t.json", "{\"builderz\": []}", 1, 2, "unknown top-level key \"builderz\""),
        ("t.pkr.hcl", "locals {\n  a = \"\\q\"\n}\n", 2, 9, "unknown escape in a string"),
        ("t.json", "{\"a\": \"\\q\"}", 1, 9, "unknown escape in a string")
    ])
    func syntaxErrorsSayWhere(name: String, text: String, line: Int, column: Int, message: String) throws {
        let r = try importPacker(text, name: name)
        #expect(r.manifest == nil)
        #expect(r.hasError(line, column, containing: message), "\(r.diagnostics)")
        #expect(r.firstError.hasPrefix("\(name):\(line):\(column): error: "))
    }

    @Test func jsonUserVariablesEnvAndBuildNameAreExpanded() throws {
        let r = try importPacker(
            """
            {
              "variables": {"rg": "images", "who": "{{env `USER_NAME`}}"},
              "builders": [{
                "type": "azure-chroot", "name": "web",
                "source": "Canonical:ubuntu-24_04-lts:server:latest",
                "image_resource_id": "/subscriptions/{{vm `subscription_id`}}/resourceGroups/{{user `rg`}}/providers/Microsoft.Compute/images/{{build_name}}"
              }],
              "provisioners": [{"type": "shell", "inline": ["echo {{user `who`}}"]}]
            }
            """, name: "t.json")
        let yaml = try #require(r.manifest, "\(r.diagnostics)")
        #expect(yaml.contains("resourceGroups/images/providers/Microsoft.Compute/images/web"))
        #expect(yaml.contains("echo {{env \"USER_NAME\"}}"))
    }

    @Test func anUnknownJSONFunctionIsAnErrorAtItsPlace() throws {
        let r = try importPacker(
            """
            {"builders": [{"type": "azure-chroot", "source": "{{split `a` `b` 0}}"}]}
            """, name: "t.json")
        #expect(r.hasError(1, 51, containing: "{{split `a` `b` 0}} is not supported"), "\(r.diagnostics)")
    }
}

/// Hostile templates get one located error each, never a crash or a hang.
@Suite struct PackerImportHostileInput {
    @Test(arguments: [
        ("deep.pkr.hcl", "locals {\n  a = " + String(repeating: "[", count: 50_000) + "\n}\n"),
        ("not.pkr.hcl", "locals {\n  a = " + String(repeating: "!", count: 50_000) + "true\n}\n"),
        ("blocks.pkr.hcl", String(repeating: "a {\n", count: 50_000)),
        ("deep.json", String(repeating: "[", count: 50_000)),
        ("nul.pkr.hcl", "source \"azure-chroot\" \"a\" {\n  \u{0}\n}\n"),
        ("empty.pkr.hcl", ""),
        ("empty.json", "   \n")
    ])
    func getsOneLocatedError(name: String, text: String) throws {
        let r = try importPacker(text, name: name)
        #expect(r.manifest == nil)
        let first = r.firstError
        #expect(first.range(of: #"^\#(name):\d+:\d+: error: .+ — .+"#, options: .regularExpression) != nil, "\(first)")
    }
}
