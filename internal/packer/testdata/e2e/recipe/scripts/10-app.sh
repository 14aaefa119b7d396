#!/bin/sh
# Installs the e2e application: a version file and a state folder.
set -eu
echo "${APP_VERSION:-1.0}" > /opt/e2e-app/version
mkdir -p /var/lib/e2e-app
chmod 0700 /var/lib/e2e-app
