#!/bin/sh
# Runs after authorized_keys is gone: proves provisioning continues over the open connection.
set -eu
test ! -e /root/.ssh/authorized_keys
date -u +%Y-%m-%dT%H:%M:%SZ > /opt/e2e-app/provisioned-after-cleanup
