#!/bin/sh
# nginx, MariaDB and PHP-FPM from the distribution. files/ already put our
# nginx site in place: keep it (confold) instead of stopping at dpkg's
# conffile prompt.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	install nginx mariadb-server php-fpm php-mysql ufw curl
