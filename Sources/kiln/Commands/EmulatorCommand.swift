import ArgumentParser

struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run a local emulator of the Azure REST API subset Kiln uses.",
        subcommands: []
    )
}
