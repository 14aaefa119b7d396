# The e2e recipe (recipe/) as an HCL2 Packer template. Run with the base
# directory set to this folder.
variable "do_api_token" {
  type      = string
  default   = env("DIGITALOCEAN_API_TOKEN")
  sensitive = true
}

# Where the manifest post-processor writes (the e2e test points it at a
# temporary folder).
variable "manifest_output" {
  type    = string
  default = "e2e-manifest.json"
}

variable "app_version" {
  type    = string
  default = "1.0"
}

locals {
  snapshot_name = "e2e-hcl-snapshot-${formatdate("YYYYMMDDhhmmss", timestamp())}"
}

source "digitalocean" "e2e" {
  api_token     = var.do_api_token
  image         = "debian-12-x64"
  region        = "nyc3"
  size          = "s-1vcpu-1gb"
  ssh_username  = "root"
  snapshot_name = local.snapshot_name
}

build {
  sources = ["source.digitalocean.e2e"]

  provisioner "file" {
    source      = "recipe/files/"
    destination = "/"
  }

  provisioner "shell" {
    environment_vars = ["APP_VERSION=${var.app_version}", "DEBIAN_FRONTEND=noninteractive"]
    scripts = [
      "recipe/scripts/10-app.sh",
      "recipe/scripts/90-cleanup.sh",
      "recipe/scripts/95-after-cleanup.sh",
    ]
  }

  provisioner "file" {
    source      = "recipe/per-instance/001_onboot"
    destination = "/var/lib/cloud/scripts/per-instance/001_onboot"
  }

  provisioner "shell" {
    inline = ["chmod 0755 /var/lib/cloud/scripts/per-instance/001_onboot"]
  }

  provisioner "file" {
    source      = "recipe/first-login/"
    destination = "/opt/e2e/"
  }

  provisioner "shell" {
    script = "first-login-hook.sh"
  }

  post-processor "manifest" {
    output = var.manifest_output
    custom_data = {
      app_version = var.app_version
    }
  }
}
