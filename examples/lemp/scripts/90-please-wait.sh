#!/bin/sh
# Until the first boot's work is done, root logins only see "please wait";
# per-instance/001_onboot removes this block (Marketplace convention).
set -eu
cat >> /etc/ssh/sshd_config <<'CONF'
Match User root
        ForceCommand echo "Please wait while we get your droplet ready..."
CONF
