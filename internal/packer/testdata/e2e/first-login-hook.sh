#!/bin/sh
# Installed by mp-image: call /opt/e2e/run once, from root's first interactive login.
set -eu
chmod 0755 '/opt/e2e/run'
touch /root/.bashrc
grep -qF '# mp-image first-login' /root/.bashrc && exit 0
cat >> /root/.bashrc <<'MP_IMAGE_EOF'
# mp-image first-login: runs once, then /root/.bashrc is restored from /etc/skel/.bashrc
case "$-" in *i*) if [ -x '/opt/e2e/run' ]; then cp -f /etc/skel/.bashrc /root/.bashrc; '/opt/e2e/run'; fi ;; esac # mp-image first-login
MP_IMAGE_EOF
