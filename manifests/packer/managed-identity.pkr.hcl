# Packer's azure-chroot documentation, "Using a VM with a Managed Identity" (HCL2 tab).
# The source is the emulator's Ubuntu image instead of credativ:Debian:9:latest, so that
# `kiln plan --emulator` can plan the imported manifest.
source "azure-chroot" "example" {
  image_resource_id = "/subscriptions/{{vm `subscription_id`}}/resourceGroups/{{vm `resource_group`}}/providers/Microsoft.Compute/images/MyDebianOSImage-{{timestamp}}"
  source            = "Canonical:ubuntu-24_04-lts:server:latest"
}

build {
  sources = ["source.azure-chroot.example"]

  provisioner "shell" {
    inline         = ["apt-get update", "apt-get upgrade -y"]
    inline_shebang = "/bin/sh -x"
  }
}
