#!/bin/sh
# The boot test: the page answers and PHP reaches the database.
set -eu
out=$(curl -fsS http://localhost/)
echo "$out"
echo "$out" | grep -q "database connected"
