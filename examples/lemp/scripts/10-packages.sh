#!/bin/sh
# nginx, MariaDB and PHP-FPM from the distribution.
set -eu
apt-get -y -q install nginx mariadb-server php-fpm php-mysql ufw curl
