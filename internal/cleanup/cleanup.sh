# shellcheck shell=sh
# Marketplace cleanup before the snapshot. Settings come from the lines Script() puts above:
# SECURE_ERASE (1/0), BUILD_KEY (an authorized_keys line or ""), VENDOR ("" or /opt/<vendor>),
# MARKER and RUN_MARKER (the tool's marker on disk, and where it moves to in memory).
# MPI_ROOT prefixes every path (tests run it in a throwaway tree); with MPI_ROOT set, system
# commands (package manager, journalctl, sync) run only when MPI_SYSTEM=1.
#
# Vendor hooks: executables in /etc/mp-image/cleanup.d/ (name order), /opt/<vendor>/cleanup.sh
# and other /opt/<vendor>/*cleanup* executables (all of /opt/*/ when no vendor is set) run first,
# with MPI_ROOT exported, so their leftovers are cleaned after them.
R="${MPI_ROOT:-}"
if [ -n "$R" ]; then SYSTEM="${MPI_SYSTEM:-0}"; else SYSTEM=1; fi
ERASE_CHUNK_MB="${MPI_ERASE_CHUNK_MB:-256}"
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH
unset HISTFILE

step() { printf '%s\n' "-> $*"; }
die() {
	printf 'cleanup failed: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# Homes of root and of every UID >= 1000 but nobody: read in this shell (no subshell loop).
homes() {
	while IFS=: read -r n _ u _ _ h _; do
		case $u in '' | *[!0-9]*) continue ;; esac
		if [ "$n" = root ] || { [ "$u" -ge 1000 ] && [ "$n" != nobody ] && [ "$n" != nfsnobody ]; }; then
			printf '%s\n' "$h"
		fi
	done <"$R/etc/passwd"
}

step "tmp directories exist with mode 1777 (apt-get update needs them, mp#94)"
for d in /tmp /var/tmp; do
	mkdir -p "$R$d" || die "mkdir $d"
	chmod 1777 "$R$d" || die "chmod 1777 $d"
done

step "vendor cleanup hooks"
if [ -n "$VENDOR" ]; then
	set -- "$R"/etc/mp-image/cleanup.d/* "$R$VENDOR"/cleanup.sh "$R$VENDOR"/*cleanup*
else
	set -- "$R"/etc/mp-image/cleanup.d/* "$R"/opt/*/cleanup.sh "$R"/opt/*/*cleanup*
fi
ran=""
for f in "$@"; do
	if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
	case $f in "$R"/opt/digitalocean/*) continue ;; esac
	case " $ran " in *" $f "*) continue ;; esac
	ran="$ran $f"
	step "vendor hook ${f#"$R"}"
	MPI_ROOT="$R" "$f" || die "vendor cleanup hook ${f#"$R"} exited $?: fix it or remove it from the recipe"
done

step "DigitalOcean agents purged (/opt/digitalocean fails validation)"
pkgs=""
for p in droplet-agent do-agent; do
	[ -f "$R/var/lib/dpkg/info/$p.list" ] && pkgs="$pkgs $p"
done
if [ "$SYSTEM" = 1 ]; then
	if have apt-get; then
		if [ -n "$pkgs" ]; then
			# shellcheck disable=SC2086 # word-split package list
			DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=120 purge $pkgs || die "apt-get purge$pkgs"
		fi
		step "apt autoremove and clean"
		DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=120 autoremove --purge || die "apt-get autoremove"
		apt-get -y -q -o DPkg::Lock::Timeout=120 clean || die "apt-get clean"
	elif have dnf || have yum; then
		pm=yum
		have dnf && pm=dnf
		$pm -y -q remove droplet-agent do-agent >/dev/null 2>&1 || true
		$pm -y -q clean all || die "$pm clean all"
	fi
elif [ -n "$pkgs" ]; then
	step "skipped package purge of$pkgs (MPI_SYSTEM=0)"
fi
rm -rf "$R/opt/digitalocean" "$R/var/opt/digitalocean" || die "remove /opt/digitalocean"
# Host-specific package manager state: rpm's Berkeley DB environment, yum's per-host UUID.
rm -f "$R"/var/lib/rpm/__db.* "$R/var/lib/yum/uuid" || die "remove rpm/yum host state"

step "cloud-init's cached instance data (a new droplet must run per-instance and per-once scripts again)"
# Per-once semaphores are in sem/, user data's part handlers in handlers/. scripts/ (the vendor's)
# and seed/ stay, and data/status.json and result.json: /run/cloud-init links to them, and without
# them `cloud-init status --wait` on this running server would wait forever (a first boot rewrites them).
d="$R/var/lib/cloud/data"
rm -rf "$R"/var/lib/cloud/instances/* "$R/var/lib/cloud/instance" "$R"/var/lib/cloud/sem/* "$R"/var/lib/cloud/handlers/* \
	"$d/instance-id" "$d/previous-instance-id" "$d/previous-hostname" "$d/previous-datasource" "$d/set-hostname" ||
	die "clear cloud-init's cached instance data"

step "machine-id emptied (systemd makes a new one at first boot); D-Bus's copy is a link to it"
if [ -L "$R/etc/machine-id" ]; then rm -f "$R/etc/machine-id" || die "remove the /etc/machine-id link"; fi
if [ -e "$R/etc/machine-id" ]; then
	# Emptied, not removed: an empty file means "first boot" and lets a read-only root bind-mount over it.
	: >"$R/etc/machine-id" || die "empty /etc/machine-id"
else
	if ! { mkdir -p "$R/etc" && : >"$R/etc/machine-id" && chmod 444 "$R/etc/machine-id"; }; then die "create an empty /etc/machine-id"; fi
fi
dbus="$R/var/lib/dbus/machine-id"
if [ -e "$dbus" ] || [ -L "$dbus" ]; then
	if [ "$(readlink "$dbus" 2>/dev/null)" != /etc/machine-id ]; then
		if ! { rm -f "$dbus" && ln -s /etc/machine-id "$dbus"; }; then die "link /var/lib/dbus/machine-id to /etc/machine-id"; fi
	fi
fi

step "random seeds (each droplet starts its own entropy pool)"
if [ "$SYSTEM" = 1 ] && have systemctl && systemctl is-active --quiet systemd-random-seed.service 2>/dev/null; then
	# Stopping saves the seed now rather than at shutdown, where it would land in the snapshot.
	systemctl stop systemd-random-seed.service >/dev/null 2>&1 || true
fi
rm -f "$R/var/lib/systemd/random-seed" "$R/var/lib/urandom/random-seed" "$R/var/lib/random-seed" ||
	die "remove the random seed"

step "DHCP leases, network manager state and persistent interface names"
for d in "$R/var/lib/dhcp" "$R/var/lib/dhclient" "$R/var/lib/dhcpd" "$R/var/lib/NetworkManager"; do
	[ -d "$d" ] || continue
	for f in "$d"/*.lease "$d"/*.leases "$d"/*.lease~ "$d"/*.leases~; do
		[ -f "$f" ] || continue
		case ${f##*/} in
		# A DHCP server does not start without its lease file: emptied, not removed.
		dhcpd*.leases) : >"$f" || die "empty ${f#"$R"}" ;;
		*) rm -f "$f" || die "remove ${f#"$R"}" ;;
		esac
	done
done
# NetworkManager's secret_key seeds stable IPv6 addresses and DHCP IDs: per machine.
rm -f "$R/var/lib/NetworkManager/secret_key" "$R/var/lib/NetworkManager/timestamps" \
	"$R/var/lib/NetworkManager/seen-bssids" "$R/etc/udev/rules.d/70-persistent-net.rules" ||
	die "remove network manager state"

step "at jobs and mail the build queued (crontabs stay: recipes install cron jobs with crontab)"
for d in "$R/var/spool/cron/atjobs" "$R/var/spool/cron/atspool" "$R/var/spool/at" "$R/var/spool/at/spool"; do
	[ -d "$d" ] || continue
	# .SEQ is at's job counter, not a job.
	find "$d" -mindepth 1 -maxdepth 1 -type f ! -name .SEQ -delete || die "empty ${d#"$R"}"
done
for d in "$R/var/mail" "$R/var/spool/mail"; do
	[ -d "$d" ] || continue
	# Mailboxes are emptied, not removed: they keep their owner and mode.
	find "$d/" -mindepth 1 -maxdepth 1 -type f -size +0 -exec truncate -s 0 {} + || die "empty ${d#"$R"}"
done

step "editor backups under /etc and password file backups (/etc/shadow- holds old hashes)"
if [ -d "$R/etc" ]; then
	find "$R/etc" -type f \( -name '*~' -o -name '*.bak' -o -name '.*.sw[op]' -o -name '#*#' \) -delete ||
		die "remove editor backups under /etc"
fi
# /var/backups/*.bak are Debian's daily copies of the same files.
rm -f "$R/etc/passwd-" "$R/etc/shadow-" "$R/etc/group-" "$R/etc/gshadow-" "$R/etc/subuid-" "$R/etc/subgid-" \
	"$R/var/backups/passwd.bak" "$R/var/backups/shadow.bak" "$R/var/backups/group.bak" "$R/var/backups/gshadow.bak" ||
	die "remove password file backups"

step "crash dumps (they hold the build's memory)"
for d in "$R/var/crash" "$R/var/lib/systemd/coredump" "$R/var/spool/abrt"; do
	[ -d "$d" ] || continue
	find "$d" -mindepth 1 -delete || die "empty ${d#"$R"}"
done

step "mp-image's own marker moves to /run: this server still refuses a second build_image until it reboots, a snapshot never holds it"
if [ -d "$R${MARKER%/*}" ]; then
	if [ -f "$R$MARKER" ]; then
		if ! { mkdir -p "$R${RUN_MARKER%/*}" && cp "$R$MARKER" "$R$RUN_MARKER"; }; then
			die "keep the marker in ${RUN_MARKER%/*}"
		fi
	fi
	rm -rf "$R${MARKER%/*}" || die "remove ${MARKER%/*}"
fi

step "authorized_keys of root and users, and the build key everywhere else"
for h in $(homes); do
	rm -f "$R$h/.ssh/authorized_keys" "$R$h/.ssh/authorized_keys2" || die "remove authorized_keys in $h"
done
if [ -n "$BUILD_KEY" ]; then
	# The key body (second field) identifies it whatever its options or comment.
	body=$(printf '%s\n' "$BUILD_KEY" | sed -n 's/.*\(ssh-[a-z0-9-]*\|ecdsa-[a-z0-9-]*\|sk-[a-z0-9@.-]*\) \([A-Za-z0-9+/=]*\).*/\2/p')
	[ -n "$body" ] || die "the build key is not an authorized_keys line"
	# Every account's ~/.ssh too: a recipe may copy root's keys to a service user whose home
	# is outside /home (git in /var/opt/gitlab, ...).
	files=$(
		find "$R/etc/ssh" "$R/root" "$R/home" -type f -path '*authorized_keys*' 2>/dev/null
		while IFS=: read -r _ _ _ _ _ h _; do
			if [ -z "$h" ] || [ ! -d "$R$h/.ssh" ]; then continue; fi
			find "$R$h/.ssh" -maxdepth 1 -type f -name 'authorized_keys*' 2>/dev/null
		done <"$R/etc/passwd"
	)
	files=$(printf '%s\n' "$files" | sort -u)
	while IFS= read -r f; do
		if [ -z "$f" ] || ! grep -q -F -e "$body" "$f"; then continue; fi
		kept=$(grep -v -F -e "$body" "$f")
		if ! printf '%s\n' "$kept" >"$f"; then die "remove the build key from ${f#"$R"}"; fi
		step "removed the build key from ${f#"$R"}"
	done <<EOF_FILES
$files
EOF_FILES
fi

step "SSH host keys (each droplet generates its own) and a Kerberos host keytab"
if [ -d "$R/etc/ssh" ]; then
	find "$R/etc/ssh" -maxdepth 1 \( -type f -o -type l \) -name '*key*' -delete || die "remove /etc/ssh/*key*"
	if ! { touch "$R/etc/ssh/revoked_keys" && chmod 600 "$R/etc/ssh/revoked_keys"; }; then die "create /etc/ssh/revoked_keys"; fi
fi
rm -f "$R/etc/krb5.keytab" || die "remove /etc/krb5.keytab"

step "shell and tool histories"
for h in $(homes); do
	[ -d "$R$h" ] || continue
	for f in "$R$h"/.*history "$R$h/.lesshst" "$R$h/.viminfo" "$R$h/.wget-hsts"; do
		[ -e "$f" ] && { rm -f "$f" || die "remove ${f#"$R"}"; }
	done
done

step "contents of /tmp and /var/tmp"
find "$R/tmp" "$R/var/tmp" -mindepth 1 -delete || die "empty /tmp and /var/tmp"
chmod 1777 "$R/tmp" "$R/var/tmp" || die "chmod 1777 /tmp /var/tmp"

mkdir -p "$R/var/log" || die "mkdir /var/log"
step "rotated logs"
find "$R/var/log" -type f \( -name '*.gz' -o -name '*.xz' -o -name '*.bz2' -o -name '*.zst' -o -name '*.old' \
	-o -name '*.[0-9]' -o -name '*.[0-9].log' -o -name '*-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' \) -delete ||
	die "delete rotated logs"
if [ "$SYSTEM" = 1 ] && have journalctl; then
	# journald writes to /run from here on (systemd 243+), so nothing goes back to /var/log/journal.
	journalctl --relinquish-var >/dev/null 2>&1 || true
	journalctl --rotate >/dev/null 2>&1 || true
	journalctl --vacuum-time=1s >/dev/null 2>&1 || true
fi
step "the build machine's journal (its directory is named by a machine-id no droplet will have again)"
if [ -d "$R/var/log/journal" ]; then
	find "$R/var/log/journal" -mindepth 1 -delete || die "remove the journal in /var/log/journal"
fi

truncate_logs() {
	find "$R/var/log" -path "$R/var/log/journal" -prune -o -type f -size +0 -exec truncate -s 0 {} + ||
		die "truncate logs"
}
step "truncate logs"
truncate_logs

if [ "$SECURE_ERASE" = 1 ]; then
	# Zero-fill free space so the snapshot carries no deleted data and compresses well.
	zf="$R/zerofile"
	avail=$(df -Pk "$R/" | sed -n '2s/^[^ ]* *[0-9]* *[0-9]* *\([0-9]*\).*/\1/p')
	step "secure erase: zero-filling about $((${avail:-0} / 1024)) MiB of free space (No space left on device ends it, as expected)"
	: >"$zf" || die "create $zf"
	written=0
	while :; do
		msg=$(dd if=/dev/zero of="$zf" bs=1048576 count="$ERASE_CHUNK_MB" oflag=append conv=notrunc 2>&1)
		rc=$?
		written=$(($(stat -c %s "$zf") / 1048576))
		if [ "$rc" != 0 ]; then
			case $msg in
			*"No space left"*) break ;;
			*) rm -f "$zf"; die "secure erase: $msg" ;;
			esac
		fi
		if [ -n "$avail" ] && [ "$avail" -gt 0 ]; then
			printf 'secure erase: %s MiB written (%s%%)\n' "$written" "$((written * 1024 * 100 / avail))"
		else
			printf 'secure erase: %s MiB written\n' "$written"
		fi
		[ -n "${MPI_ERASE_MAX_MB:-}" ] && [ "$written" -ge "$MPI_ERASE_MAX_MB" ] && break
	done
	rm -f "$zf" || die "remove $zf"
	printf 'secure erase: done, %s MiB zeroed\n' "$written"
fi
[ "$SYSTEM" = 1 ] && sync

# Last write before validation and shutdown (mp#95): anything logged while zero-filling
# (a full disk makes services complain) is cleared again.
step "truncate logs (last write)"
truncate_logs
printf 'cleanup: done\n'
