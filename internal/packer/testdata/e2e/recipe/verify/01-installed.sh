#!/bin/sh
# Boot test: the app is installed and first boot generated its password.
set -eu
test "$(/usr/local/bin/e2e-app)" = "e2e-app 1.0"
test -s /var/lib/e2e-app/password
test -s /opt/e2e-app/provisioned-after-cleanup
