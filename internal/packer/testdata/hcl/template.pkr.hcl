packer {
  required_plugins {
    digitalocean = {
      version = ">= 1.0.4"
      source  = "github.com/digitalocean/digitalocean"
    }
  }
}

variable "token" {
  type      = string
  default   = env("MP_TEST_TOKEN")
  sensitive = true
}

variable "app_name" {
  type    = string
  default = "Demo App"
}

variable "version" {
  type = string
}

variable "regions" {
  type    = list(string)
  default = ["nyc3"]
}

variable "db_password" {
  type      = string
  default   = "s3cret-pw"
  sensitive = true
}

locals {
  slug          = lower(replace(var.app_name, " ", "-"))
  snapshot_name = "${local.slug}-${var.version}-${formatdate("YYYYMMDD", timestamp())}"
  env_vars = [
    "APP=${local.slug}",
    "VERSION=${upper(var.version)}",
  ]
}

source "digitalocean" "main" {
  api_token        = var.token
  image            = "debian-12-x64"
  region           = "nyc3"
  size             = "s-1vcpu-1gb"
  ssh_username     = "root"
  snapshot_name    = local.snapshot_name
  snapshot_regions = concat(var.regions, ["ams3"])
  tags             = split(",", "a,b")
  droplet_agent    = false
  state_timeout    = "7m"
}

build {
  sources = ["source.digitalocean.main"]

  provisioner "shell" {
    inline = ["cloud-init status --wait", "echo ${join(" ", local.env_vars)}"]
  }

  provisioner "file" {
    source      = "files/etc/"
    destination = "/etc/"
  }

  provisioner "shell" {
    environment_vars = local.env_vars
    scripts          = ["scripts/01-one.sh", "scripts/02-two.sh"]
    valid_exit_codes = [0, 1]
    execute_command  = "{{.Vars}} bash {{.Path}}"
  }

  post-processor "manifest" {
    output     = "manifest.json"
    strip_path = true
  }
}
