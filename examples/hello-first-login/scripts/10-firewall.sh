#!/bin/sh
# The Marketplace expects a firewall: allow SSH and turn ufw on.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -y -q install ufw
ufw limit ssh
ufw --force enable
