import Foundation
import Model
import TestSupport
import Testing

/// What a template becomes: the mapping, the comments where Kiln differs, secrets kept out,
/// unsupported parts refused or skipped.
@Suite struct PackerImportMapping {
    @Test func theImportedManifestIsValidAndSaysWhereKilnDiffers() throws {
        let r = try importPacker(
            chrootTemplate(provisioners: #"  provisioner "shell" { inline = ["apt-get update"] }"#))
        let yaml = try #require(r.manifest, "\(r.diagnostics)")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let loaded = try loadManifest(yaml, in: dir)
        #expect(loaded.errors.isEmpty, "\(loaded.errors)")
        let build = try #require(loaded.manifest?.builds.first)
        #expect(build.name == "web")
        #expect(build.source.kindName == "platformImage")
        #expect(build.provision.first?.action == .shell(["apt-get update"]))
        #expect(yaml.yamlComments.contains("`latest` resolves at plan time to the numerically highest version"))
        #expect(yaml.yamlComments.contains("Packer's code made the working disk Premium_LRS"))
        #expect(yaml.yamlComments.contains("Packer's default. Kiln restores these files"))
        #expect(yaml.contains("kind: managedIdentity"))
    }

    @Test func aTimestampInTheImageNameIsDroppedWithAComment() throws {
        let r = try importPacker(
            """
            source "azure-chroot" "a" {
              source            = "Canonical:ubuntu-24_04-lts:server:latest"
              image_resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/img-${timestamp()}"
            }
            build { sources = ["source.azure-chroot.a"] }
            """)
        let yaml = try #require(r.manifest, "\(r.diagnostics)")
        #expect(yaml.contains("providers/Microsoft.Compute/images/img\n"))
        #expect(yaml.yamlComments.contains("Packer's {{timestamp}} is left out"))
    }

    @Test func aTimestampAnywhereElseIsRefused() throws {
        let r = try importPacker(chrootTemplate(#"  mount_path = "/mnt/{{timestamp}}""#))
        #expect(r.hasError(4, 3, containing: "mount_path of source \"azure-chroot\" \"web\" uses a timestamp"))
    }

    @Test func secretsAreNeverCopiedOnlyTheirVariableIsNamed() throws {
        let literal = try importPacker(
            chrootTemplate(
                """
                  client_id     = "00000000-0000-0000-0000-0000000000c1"
                  client_secret = "s3cr3t-literal-value"
                  tenant_id     = "00000000-0000-0000-0000-0000000000a1"
                """))
        let yaml = try #require(literal.manifest, "\(literal.diagnostics)")
        #expect(!yaml.contains("s3cr3t"))
        #expect(yaml.contains("kind: clientSecret"))
        #expect(yaml.contains("clientSecretEnv: ARM_CLIENT_SECRET"))
        #expect(yaml.yamlComments.contains("client_secret is not copied (secrets stay out of manifests)"))

        let fromEnv = try importPacker(
            """
            variable "secret" {
              default   = env("MY_SECRET")
              sensitive = true
            }

            """
                + chrootTemplate(
                    """
                      client_id     = "00000000-0000-0000-0000-0000000000c1"
                      client_secret = var.secret
                    """))
        #expect(fromEnv.manifest?.contains("clientSecretEnv: MY_SECRET") == true, "\(fromEnv.diagnostics)")
    }

    @Test func aSecretVariableUsedElsewhereIsRefusedAndNeverWritten() throws {
        let text =
            """
            variable "secret" {
              default = "hunter2-password"
            }

            """
            + chrootTemplate(
                "  client_secret = var.secret\n  client_id = \"00000000-0000-0000-0000-0000000000c1\"",
                provisioners: """
                      provisioner "shell" {
                        environment_vars = ["TOKEN=${var.secret}"]
                        inline = ["true"]
                      }
                    """)
        let r = try importPacker(text)
        #expect(r.manifest == nil)
        #expect(
            r.firstError.contains("environment_vars of provisioner \"shell\" would copy a secret"), "\(r.diagnostics)")
        #expect(!r.diagnostics.contains { $0.description.contains("hunter2") })
    }

    @Test func aSecretMixedWithAnEnvironmentValueIsStillRefused() throws {
        let r = try importPacker(
            """
            variable "secret" {
              default   = "literal-secret"
              sensitive = true
            }

            """
                + chrootTemplate(
                    provisioners: """
                          provisioner "shell" {
                            inline = ["login ${var.secret}:${env("OTHER")}"]
                          }
                        """))
        #expect(r.firstError.contains("inline of provisioner \"shell\" would copy a secret"), "\(r.diagnostics)")
    }

    @Test func aJSONSensitiveVariableIsNeverWrittenButItsEnvironmentVariableMayBe() throws {
        let template = """
            {
              "variables": {"token": "literal-token-value", "from_env": "{{env `API_TOKEN`}}"},
              "sensitive-variables": ["token", "from_env"],
              "builders": [{
                "type": "azure-chroot",
                "source": "Canonical:ubuntu-24_04-lts:server:latest",
                "image_resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/a"
              }],
              "provisioners": [{"type": "shell", "inline": ["curl -H {{user `PLACE`}} example.com"]}]
            }
            """
        let literal = try importPacker(
            template.replacingOccurrences(of: "PLACE", with: "token"), name: "t.json")
        #expect(
            literal.hasError(9, 38, containing: "inline of provisioner \"shell\" would copy a secret"),
            "\(literal.diagnostics)")
        #expect(!literal.diagnostics.contains { $0.description.contains("literal-token-value") })
        let fromEnv = try importPacker(
            template.replacingOccurrences(of: "PLACE", with: "from_env"), name: "t.json")
        #expect(
            fromEnv.manifest?.contains("curl -H {{env \"API_TOKEN\"}} example.com") == true, "\(fromEnv.diagnostics)")
    }

    @Test func anUnsupportedProvisionerIsRefusedWithItsLineOrSkippedOnRequest() throws {
        let text = chrootTemplate(
            provisioners: """
                  provisioner "ansible" {
                    playbook_file = "site.yml"
                  }
                  provisioner "shell" { inline = ["true"] }
                  post-processor "manifest" {}
                """)
        let refused = try importPacker(text)
        #expect(refused.manifest == nil)
        #expect(
            refused.hasError(9, 3, containing: "provisioner \"ansible\" cannot be imported"), "\(refused.diagnostics)")
        #expect(refused.hasError(13, 3, containing: "post-processor \"manifest\" cannot be imported"))
        #expect(refused.firstError.contains("--skip-unsupported"))

        let skipped = try importPacker(text, skipUnsupported: true)
        let yaml = try #require(skipped.manifest, "\(skipped.diagnostics)")
        #expect(
            skipped.diagnostics.contains {
                $0.severity == .warning && $0.description.contains("skipped provisioner \"ansible\"")
            })
        #expect(yaml.yamlComments.contains("skipped (--skip-unsupported): provisioner \"ansible\" at t.pkr.hcl:9:3"))
        #expect(yaml.contains("shell:\n          - 'true'"))
    }

    @Test func anotherBuilderTypeIsRefusedOrSkipped() throws {
        let text =
            chrootTemplate()
                + """
                source "azure-arm" "vm" {
                  os_type = "Linux"
                }
                build { sources = ["source.azure-arm.vm"] }
                """
        let refused = try importPacker(text)
        #expect(refused.firstError.contains("builder \"azure-arm\" (vm) cannot be imported"), "\(refused.diagnostics)")
        let skipped = try importPacker(text, skipUnsupported: true)
        #expect(skipped.manifest != nil, "\(skipped.diagnostics)")
    }

    @Test func anUnknownOptionGetsADidYouMean() throws {
        let r = try importPacker(chrootTemplate("  os_disk_size = 40"))
        #expect(r.hasError(4, 3, containing: "os_disk_size is not an option"), "\(r.diagnostics)")
        #expect(r.firstError.contains("did you mean os_disk_size_gb?"))
    }

    @Test func aProblemKilnValidateFindsIsReportedAtTheTemplateLine() throws {
        let r = try importPacker(
            """
            source "azure-chroot" "web" {
              source = "Canonical:ubuntu-24_04-lts:server:latest"
              shared_image_destination {
                resource_group = "rg"
                gallery_name   = "my-gallery"
                image_name     = "web"
                image_version  = "1.0.0"
              }
            }
            build { sources = ["source.azure-chroot.web"] }
            """)
        #expect(
            r.hasError(
                5, 22,
                containing:
                    "the imported manifest: builds[0].outputs.gallery.gallery 'my-gallery' is not a valid gallery name"),
            "\(r.diagnostics)")
    }

    @Test func inlineLinesKeepPackersOneScriptSemantics() throws {
        let plain = try importPacker(
            chrootTemplate(
                provisioners: #"  provisioner "shell" { inline = ["apt-get update", "apt-get -y upgrade"] }"#))
        #expect(
            plain.manifest?.contains("shell:\n          - apt-get update\n          - apt-get -y upgrade\n") == true)
        let traced = try importPacker(
            chrootTemplate(
                provisioners: #"  provisioner "shell" { inline_shebang = "/bin/sh -x"  inline = ["cd /opt", "make"] }"#)
        )
        #expect(traced.manifest == nil)  // two attributes on one line is not HCL
        let stateful = try importPacker(
            chrootTemplate(provisioners: "  provisioner \"shell\" {\n    inline = [\"cd /opt\", \"make\"]\n  }"))
        let yaml = try #require(stateful.manifest, "\(stateful.diagnostics)")
        #expect(yaml.contains("- |-\n            set -e\n            cd /opt\n            make\n"))
        #expect(yaml.yamlComments.contains("Packer ran these lines as one script with #!/bin/sh -e; so does this step"))
    }

    @Test(arguments: [
        ("chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'", true),
        ("chmod +x {{.Path}}; {{.Vars}} {{.Path}}", true),
        ("echo 'packer' | sudo -S sh -c '{{ .Vars }} {{ .Path }}'", true),
        ("{{ .Vars }} python3 {{ .Path }}", false),
        ("sudo rm -rf / ; {{ .Path }}", false)
    ])
    func executeCommandMapsOnlyWhenItJustRunsTheScript(command: String, maps: Bool) {
        #expect(PackerImporter.executeCommandOnlyRuns(command) == maps)
    }

    @Test func scriptsAndUploadsKeepTheirFilesAndNames() throws {
        let (r, manifest) = try importAndLoad(
            chrootTemplate(
                provisioners: """
                      provisioner "shell" {
                        scripts          = ["scripts/a.sh", "scripts/b.sh"]
                        environment_vars = ["ROLE=web"]
                      }
                      provisioner "file" {
                        source      = "files/"
                        destination = "/etc/app"
                      }
                      provisioner "file" {
                        source      = "files/motd"
                        destination = "/etc/"
                      }
                    """),
            files: ["scripts/a.sh": "#!/bin/sh\n", "scripts/b.sh": "#!/bin/sh\n", "files/motd": "hi\n"])
        let steps = try #require(manifest?.builds.first?.provision, "\(r.diagnostics)")
        #expect(steps.map(\.name) == ["a", "b", "upload-3", "upload-4"])
        #expect(steps[0].action == .script(path: "scripts/a.sh", args: []))
        #expect(steps[0].env == ["ROLE": "web"])
        #expect(steps[1].action == .script(path: "scripts/b.sh", args: []))
        #expect(steps[2].action == .upload(source: "files/", destination: "/etc/app", mode: nil))
        #expect(steps[3].action == .upload(source: "files/motd", destination: "/etc/motd", mode: nil))
    }

    @Test func aGalleryDestinationWithRegionsMaps() throws {
        let text = """
            source "azure-chroot" "g" {
              source = "Canonical:ubuntu-24_04-lts:server:latest"
              shared_image_destination {
                resource_group     = "rg"
                gallery_name       = "gal"
                image_name         = "def"
                image_version      = "1.0.0"
                exlude_from_latest = true
                target_regions {
                  name                 = "eastus"
                  replicas             = "2"
                  storage_account_type = "standard_zrs"
                }
                target_regions {
                  name = "westus"
                }
              }
            }
            build { sources = ["source.azure-chroot.g"] }
            """
        let r = try importPacker(text)
        let yaml = try #require(r.manifest, "\(r.diagnostics)")
        #expect(yaml.yamlComments.contains("a region without replicas or storageAccountType gets 1 and Standard_LRS"))
        let gallery = try #require(try importAndLoad(text).manifest?.builds.first?.outputs.gallery)
        #expect(gallery.targetRegions.map(\.name) == ["eastus", "westus"])
        #expect(gallery.targetRegions.map(\.replicas) == [2, 1])
        #expect(gallery.targetRegions.map(\.storageAccountType) == [.standardZRS, .standardLRS])
        #expect(gallery.excludeFromLatest)
    }
}

/// Every string the import writes reads back as the same string.
@Suite struct PackerImportYAMLText {
    static let awkward = [
        "echo 'a: b'", "- dash", "#hash", "yes", "1.0", "0644", "x #y", "{a}", "[b]", "@at", "`tick`", "%p",
        "tab\there", "trailing ", " leading", "quote\"d", "back\\slash", "é unicode", "null", "~", "a: ", "? q",
        "it's", "!tag", "&anchor", "*alias", "|pipe", ">fold", "=", ""
    ]

    @Test func awkwardCommandsAndValuesReadBackUnchanged() throws {
        let list = Self.awkward.filter { !$0.isEmpty }.map { text in
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\t", with: "\\t")
            return "\"" + escaped + "\""
        }
        let env = ["A = \"line1\\nline2\\n\"", "B = \"two\\n\\n\"", "C = \"no newline\\nend\"", "D = \"\\ttabbed\\n\""]
        let (r, manifest) = try importAndLoad(
            chrootTemplate(
                provisioners: """
                      provisioner "shell" {
                        inline = [\(list.joined(separator: ", "))]
                        env = {
                          \(env.joined(separator: "\n      "))
                        }
                      }
                      provisioner "shell" {
                        inline = [\(list.joined(separator: ", ")), "cat <<EOF"]
                      }
                    """))
        let steps = try #require(manifest?.builds.first?.provision, "\(r.diagnostics)")
        let lines = Self.awkward.filter { !$0.isEmpty }
        #expect(steps.first?.action == .shell(lines))
        #expect(
            steps.first?.env == ["A": "line1\nline2\n", "B": "two\n\n", "C": "no newline\nend", "D": "\ttabbed\n"])
        // A heredoc makes the lines one script, written as a YAML block.
        #expect(steps.last?.action == .shell([(["set -e"] + lines + ["cat <<EOF"]).joined(separator: "\n")]))
    }
}
