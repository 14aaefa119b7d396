variable "token" {
  type    = string
  default = ""
}

source "digitalocean" "main" {
  api_token = var.token
  image     = "debian-12-x64"
}

source "amazon-ebs" "other" {
  region = "us-east-1"
}

build {
  sources = ["source.digitalocean.main"]

  provisioner "shell" {
    inline = ["echo ${var.nope}"]
  }

  provisioner "ansible" {
    playbook_file = "site.yml"
  }

  provisioner "shell" {
    script = "missing.sh"
  }

  post-processors {
    post-processor "manifest" {
      output = "m.json"
    }
    post-processor "shell-local" {
      inline = ["jq . m.json"]
    }
  }
}
