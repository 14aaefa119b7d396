#!/bin/sh
# Web and SSH only.
set -eu
ufw limit ssh
ufw allow http
ufw allow https
ufw --force enable
