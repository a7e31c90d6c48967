import ArgumentParser
import Model

@main
struct Kiln: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Build Azure managed images and gallery image versions with the chroot method, as desired state.",
        version: KilnVersion.description,
        subcommands: [
            ValidateCommand.self,
            PlanCommand.self,
            ApplyCommand.self,
            DestroyCommand.self,
            DriftCommand.self,
            StatusCommand.self,
            GraphCommand.self,
            SchemaCommand.self,
            EmulatorCommand.self,
            ImportCommand.self
        ]
    )
}
