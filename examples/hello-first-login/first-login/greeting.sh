#!/bin/sh
# Shown once, on root's first login shell of a droplet made from the image.
cat <<'MSG'
********************************************************************************
Welcome to your Hello 1-Click droplet!
This greeting appears on your first login only.
********************************************************************************
MSG
