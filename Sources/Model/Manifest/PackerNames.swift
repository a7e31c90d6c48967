/// Packer `azure-chroot` option names and where each lives in a Kiln manifest. Used to point
/// a user who writes a Packer key at Kiln's name for it; docs/manifest.md has the same table.
public enum PackerNames {
    /// (Packer's key, Kiln's path).
    public static let table: [(packer: String, kiln: String)] = [
        ("cloud_environment_name", "azure.cloud"),
        ("metadata_host", "azure.metadataEndpoint"),
        ("client_id", "azure.credential.clientId"),
        ("client_secret", "azure.credential.clientSecretEnv"),
        ("client_cert_path", "azure.credential.clientCertificatePath"),
        ("client_cert_password", "azure.credential.clientCertificatePasswordEnv"),
        ("client_jwt", "azure.credential.federatedTokenFile"),
        ("oidc_request_url", "azure.credential.oidcRequestURL"),
        ("oidc_request_token", "azure.credential.oidcRequestTokenEnv"),
        ("use_azure_cli_auth", "azure.credential.kind: azureCLI"),
        ("tenant_id", "azure.tenant"),
        ("subscription_id", "azure.subscription"),
        ("from_scratch", "source.scratch"),
        ("source", "source.platformImage / source.disk / source.galleryImageVersion"),
        ("command_wrapper", "mount.commandWrapper"),
        ("manual_mount_command", "mount.manualMountCommand"),
        ("pre_mount_commands", "mount.preMountCommands"),
        ("mount_options", "mount.options"),
        ("mount_partition", "mount.partition"),
        ("mount_path", "mount.path"),
        ("post_mount_commands", "mount.postMountCommands"),
        ("chroot_mounts", "mount.chrootMounts"),
        ("copy_files", "mount.copyFiles"),
        ("os_disk_size_gb", "disk.sizeGB"),
        ("os_disk_storage_account_type", "disk.storageAccountType"),
        ("os_disk_cache_type", "disk.cacheType"),
        ("data_disk_storage_account_type", "disk.dataDisks[].storageAccountType"),
        ("data_disk_cache_type", "disk.dataDisks[].cacheType"),
        ("image_hyperv_generation", "disk.hyperVGeneration"),
        ("temporary_os_disk_id", "temporary.resourceGroup"),
        ("temporary_os_disk_snapshot_id", "temporary.resourceGroup"),
        ("temporary_data_disk_id_prefix", "temporary.resourceGroup"),
        ("temporary_data_disk_snapshot_id", "temporary.resourceGroup"),
        ("lvm_root_device", "mount.lvmRootDevice"),
        ("pre_unmount_commands", "mount.preUnmountCommands"),
        ("skip_cleanup", "temporary.keep"),
        ("image_resource_id", "outputs.image.id"),
        ("shared_image_destination", "outputs.gallery"),
        ("gallery_name", "outputs.gallery.gallery"),
        ("image_name", "outputs.gallery.imageDefinition"),
        ("image_version", "outputs.gallery.version"),
        ("target_regions", "outputs.gallery.targetRegions"),
        ("exclude_from_latest", "outputs.gallery.excludeFromLatest"),
        ("exlude_from_latest", "outputs.gallery.excludeFromLatest"),
        ("skip_create_image", "outputs.skip"),
        ("replicas", "outputs.gallery.targetRegions[].replicas"),
        ("storage_account_type", "storageAccountType"),
        ("object_id", "(not needed: Kiln never asks for the principal's object id)")
    ]

    /// Squashed Packer key → Kiln path, for unknown-key hints. Keys whose squashed form is
    /// also a Kiln key (e.g. `resource_group`) are left out so they never shadow a real typo hint.
    static let kilnPath: [String: String] = {
        var out: [String: String] = [:]
        for (p, k) in table {
            let s = Suggestions.squashed(p)
            if out[s] == nil { out[s] = k }
        }
        return out
    }()
}
