# A template with parts Kiln cannot carry out: imported only with --skip-unsupported.
source "azure-chroot" "base" {
  source            = "Canonical:ubuntu-24_04-lts:server:latest"
  image_resource_id = "/subscriptions/{{vm `subscription_id`}}/resourceGroups/{{vm `resource_group`}}/providers/Microsoft.Compute/images/base"
}

build {
  sources = ["source.azure-chroot.base"]

  provisioner "shell" {
    inline = ["echo base > /etc/role"]
  }

  provisioner "ansible" {
    playbook_file = "playbook.yml"
  }

  post-processor "manifest" {
    output = "manifest.json"
  }
}
