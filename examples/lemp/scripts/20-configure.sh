#!/bin/sh
# Point nginx at this PHP-FPM version's socket and enable the services.
set -eu
sock=$(ls /run/php/php*-fpm.sock 2>/dev/null | head -n 1 || true)
if [ -z "$sock" ]; then
	ver=$(ls /etc/php | sort -V | tail -n 1)
	sock=/run/php/php${ver}-fpm.sock
fi
sed -i "s#__PHP_FPM_SOCKET__#${sock}#" /etc/nginx/sites-available/default
nginx -t
fpm=$(basename "$(ls /lib/systemd/system/php*-fpm.service | head -n 1)" .service)
systemctl enable nginx mariadb "$fpm"
systemctl restart "$fpm" nginx
