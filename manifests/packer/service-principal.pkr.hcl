# Packer's azure-chroot documentation, "Using a Service Principal" (HCL2 tab). The values
# come from the command line: kiln import packer -var subscription_id=… -var resource_group=…
# -var client_id=… (client_secret is never needed: the secret is read from the environment
# when Kiln runs). The source is the emulator's Ubuntu image, and the documentation's
# `} variable "resource_group" {` (two blocks on one line, which HCL refuses) is split.
variable "client_id" {
  type = string
}
variable "client_secret" {
  type = string
}
variable "subscription_id" {
  type = string
}
variable "resource_group" {
  type = string
}

source "azure-chroot" "basic-example" {
  client_id = var.client_id
  client_secret = var.client_secret
  subscription_id = var.subscription_id

  image_resource_id = "/subscriptions/${var.subscription_id}/resourceGroups/${var.resource_group}/providers/Microsoft.Compute/images/MyDebianOSImage-{{timestamp}}"

  source = "Canonical:ubuntu-24_04-lts:server:latest"
}

build {
  sources = ["sources.azure-chroot.basic-example"]

  provisioner "shell" {
    inline = ["apt-get update", "apt-get upgrade -y"]
    inline_shebang = "/bin/sh -x"
  }
}
