#!/bin/sh
# The template's own cleanup, in the style of the 1-Click templates: after it
# the build key is gone and only the already-open connection still works.
set -eu
rm -f /root/.ssh/authorized_keys
rm -rf /tmp/* /var/tmp/*
