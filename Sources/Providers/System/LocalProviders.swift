/// The builder VM's local side effects, wired together: one command runner (carrying the
/// command wrapper) shared by mounts and chroot, the device locator and the journal store.
///
/// `system(…)` is what `kiln apply` uses; `inMemory()` gives every piece's in-memory
/// implementation for unit tests of the Planner and Reconciler.
public struct LocalProviders: Sendable {
    public var runner: any CommandRunner
    public var devices: any BlockDeviceLocator
    public var mounts: any MountManager
    public var chroot: any ChrootExecutor
    public var journal: any JournalStore
    /// Runs an image's programs when its architecture is not the VM's.
    public var emulation: any CPUEmulation

    public init(
        runner: any CommandRunner, devices: any BlockDeviceLocator, mounts: any MountManager,
        chroot: any ChrootExecutor, journal: any JournalStore, emulation: any CPUEmulation = InMemoryCPUEmulation()
    ) {
        self.runner = runner
        self.devices = devices
        self.mounts = mounts
        self.chroot = chroot
        self.journal = journal
        self.emulation = emulation
    }

    /// The real implementations. `deviceRoot` is `/dev` on a VM, the emulator's device root
    /// otherwise; `stateDirectory` holds the journals.
    public static func system(
        wrapper: CommandWrapper = .identity,
        deviceRoot: String = "/dev",
        stateDirectory: String = FileJournalStore.defaultStateDirectory,
        clock: any Clock<Duration> = ContinuousClock()
    ) -> LocalProviders {
        let runner = ProcessCommandRunner(wrapper: wrapper, clock: clock)
        return LocalProviders(
            runner: runner,
            devices: SystemBlockDevices(deviceRoot: deviceRoot, clock: clock),
            mounts: SystemMountManager(runner: runner),
            chroot: SystemChrootExecutor(runner: runner),
            journal: FileJournalStore(stateDirectory: stateDirectory, clock: clock),
            emulation: QemuUserEmulation(runner: runner, host: HostArchitecture.current))
    }

    /// The in-memory implementations, each empty.
    public static func inMemory() -> LocalProviders {
        LocalProviders(
            runner: InMemoryCommandRunner(),
            devices: InMemoryBlockDevices(),
            mounts: InMemoryMountManager(),
            chroot: InMemoryChrootExecutor(),
            journal: InMemoryJournalStore())
    }
}
