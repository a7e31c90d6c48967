# Every provisioner form kiln import carries over, and most azure-chroot options, written
# from the option reference in Packer's azure-chroot documentation: two sources in one
# build, locals, a heredoc, scripts, file uploads, environment variables, only/except.
variable "image_version" {
  type    = string
  default = "1.2.0"
}

variable "regions" {
  type    = list(string)
  default = ["westus", "westus2"]
}

locals {
  image_prefix = "web"
  gallery      = "kiln_gallery"
}

source "azure-chroot" "web" {
  source                       = "Canonical:ubuntu-24_04-lts:server:latest"
  os_disk_size_gb              = 40
  os_disk_storage_account_type = "premium_lrs"
  os_disk_cache_type           = "ReadWrite"
  mount_options                = ["noatime"]
  mount_partition              = "1"
  pre_unmount_commands         = ["sync"]
  chroot_mounts = [
    ["proc", "proc", "/proc"],
    ["sysfs", "sysfs", "/sys"],
    ["bind", "/dev", "/dev"],
  ]
  copy_files = ["/etc/resolv.conf"]

  image_resource_id = "/subscriptions/{{ vm `subscription_id` }}/resourceGroups/{{ vm `resource_group` }}/providers/Microsoft.Compute/images/${local.image_prefix}-${var.image_version}"

  shared_image_destination {
    resource_group = "{{ vm `resource_group` }}"
    gallery_name   = local.gallery
    image_name     = "${local.image_prefix}-base"
    image_version  = var.image_version
    target_regions {
      name     = var.regions[0]
      replicas = 1
    }
    target_regions {
      name                 = var.regions[1]
      replicas             = 2
      storage_account_type = "Standard_ZRS"
    }
  }
  skip_cleanup = false
}

/* A second image from the same provisioning, published to the gallery only. */
source "azure-chroot" "worker" {
  source = "Canonical:ubuntu-24_04-lts:server:latest"
  shared_image_destination {
    resource_group = "{{ vm `resource_group` }}"
    gallery_name   = local.gallery
    image_name     = "worker"
    image_version  = var.image_version
    target_regions {
      name = "westus"
    }
  }
}

build {
  name    = "images"
  sources = ["source.azure-chroot.web", "source.azure-chroot.worker"]

  provisioner "shell" {
    environment_vars = ["DEBIAN_FRONTEND=noninteractive", "ROLE=${source.name}"]
    inline = [
      "mkdir -p /etc/kiln",
      "echo ${source.name} > /etc/kiln/role",
    ]
  }

  provisioner "shell" {
    inline = [<<-EOT
      cd /etc/kiln
      echo ${upper(local.image_prefix)} > prefix
    EOT
    ]
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
    scripts         = ["scripts/harden.sh"]
    env = {
      ROLE = "hardened"
    }
    only = ["azure-chroot.web"]
  }

  provisioner "file" {
    source      = "files/motd"
    destination = "/etc/motd"
    except      = ["azure-chroot.worker"]
  }
}
