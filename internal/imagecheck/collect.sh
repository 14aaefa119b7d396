# shellcheck shell=sh
# Prints what imagecheck's rules need as sections "@@MPI@@<TAB>name<TAB>args...".
# It only reads, except `apt-get update` / a yum metadata refresh (as img_check.sh does),
# which MPI_APT_UPDATE=0 skips. MPI_ROOT prefixes every path (tests read a fixture tree);
# MPI_FW_PROBE=0 skips running `ufw status`. POSIX sh with coreutils, findutils, grep, sed:
# no awk, which a Debian minbase may lack.
R="${MPI_ROOT:-}"
APT_UPDATE="${MPI_APT_UPDATE:-1}"
FW_PROBE="${MPI_FW_PROBE:-1}"
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH
TAB=$(printf '\t')

# The leading newline keeps a marker on its own line even after output without one.
sec() {
	printf '\n@@MPI@@'
	for a in "$@"; do printf '\t%s' "$a"; done
	printf '\n'
}
have() { command -v "$1" >/dev/null 2>&1; }
# hasbin answers "is it installed": in the fixture tree by path, on a machine by PATH.
hasbin() {
	if [ -n "$R" ]; then
		for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
			[ -x "$R$d/$1" ] && { printf '%s\n' "$d/$1"; return 0; }
		done
		return 1
	fi
	command -v "$1" 2>/dev/null
}
b64file() { [ -f "$1" ] && base64 <"$1"; }

sec begin 1
sec id
printf 'uid\t%s\neuid\t%s\n' "$(id -ru)" "$(id -u)"
sec hostname
hostname 2>/dev/null || cat /etc/hostname 2>/dev/null
# Used bytes of /: the build's hint for how long the snapshot takes.
sec disk
[ -z "$R" ] && df -P -k / 2>/dev/null | sed -n '2s/^[^ ]*  *[0-9]*  *\([0-9]*\) .*/used-kb\t\1/p'

sec os-release
if [ -f "$R/etc/os-release" ]; then b64file "$R/etc/os-release"; else b64file "$R/usr/lib/os-release"; fi
sec redhat-release
b64file "$R/etc/redhat-release"

sec commands
for c in cloud-init ufw firewall-cmd csf apt-get dnf yum systemctl; do
	p=$(hasbin "$c") && printf '%s\t%s\n' "$c" "$p"
done

sec firewall
if [ -f "$R/etc/ufw/ufw.conf" ]; then
	v=$(sed -n 's/^[[:space:]]*ENABLED[[:space:]]*=[[:space:]]*//p' "$R/etc/ufw/ufw.conf" | tr -d "\"' " | head -n 1)
	printf 'ufw-conf-enabled\t%s\n' "$v"
fi
if [ "$FW_PROBE" = 1 ] && [ -z "$R" ] && have ufw; then
	printf 'ufw-status\t%s\n' "$(ufw status 2>&1 | head -n 1)"
fi
if [ -z "$R" ] && have systemctl; then
	for s in ufw firewalld csf nftables; do
		printf 'unit\t%s\t%s\t%s\n' "$s" "$(systemctl is-active "$s" 2>/dev/null | head -n 1)" "$(systemctl is-enabled "$s" 2>/dev/null | head -n 1)"
	done
fi
for f in /usr/lib/systemd/system/csf.service /lib/systemd/system/csf.service /etc/systemd/system/csf.service; do
	[ -f "$R$f" ] && printf 'csf-unit\t%s\n' "$f"
done
if [ -z "$R" ] && grep -q '^ip_tables ' /proc/modules 2>/dev/null; then
	printf 'ip_tables-loaded\tyes\n'
fi

sec updates
if [ -z "$R" ] && have apt-get; then
	printf 'manager\tapt\n'
	if [ "$APT_UPDATE" = 1 ]; then
		out=$(DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=120 update 2>&1)
		printf 'update-exit\t%s\n' "$?"
		printf '%s\n' "$out" | grep -E '^(E|W|Err):' | head -n 20 | sed "s/^/update-msg$TAB/"
	fi
	out=$(apt-get --just-print upgrade 2>&1)
	printf 'simulate-exit\t%s\n' "$?"
	printf '%s\n' "$out" | grep -E '^E:' | head -n 20 | sed "s/^/simulate-msg$TAB/"
	printf '%s\n' "$out" | grep -i security | sed "s/^/line$TAB/"
	# Every pending upgrade with both versions, for `mp-image freshness`.
	printf '%s\n' "$out" | grep '^Inst ' | sed "s/^/pending$TAB/"
elif [ -z "$R" ] && { have dnf || have yum; }; then
	pm=yum
	have dnf && pm=dnf
	printf 'manager\t%s\n' "$pm"
	cache=""
	[ "$APT_UPDATE" = 1 ] || cache="-C"
	# shellcheck disable=SC2086 # $cache is one optional flag
	out=$($pm -q $cache check-update --security 2>&1)
	printf 'check-exit\t%s\n' "$?"
	printf '%s\n' "$out" | sed "s/^/line$TAB/"
fi

sec passwd
if [ -z "$R" ] && have getent; then getent passwd; else cat "$R/etc/passwd"; fi

# Only a class of each password field leaves the machine, never a hash.
sec shadow
if [ -r "$R/etc/shadow" ]; then
	while IFS=: read -r n p _; do
		case $p in
		'!' | '!!' | '*') k=$p ;;
		'') k='<empty>' ;;
		'!'* | '*'*) k='<locked>' ;;
		*) k='<hash>' ;;
		esac
		printf '%s\t%s\n' "$n" "$k"
	done <"$R/etc/shadow"
else
	printf '@unreadable\n'
fi

# root and every UID >= 1000 but nobody: in this shell, not a subshell, and with the glob
# unquoted (the two img_check.sh bugs that make it skip users).
users=$(if [ -z "$R" ] && have getent; then getent passwd; else cat "$R/etc/passwd"; fi |
	while IFS=: read -r n _ u _ _ h _; do
		case $u in '' | *[!0-9]*) continue ;; esac
		if [ "$n" = root ] || { [ "$u" -ge 1000 ] && [ "$n" != nobody ] && [ "$n" != nfsnobody ]; }; then
			printf '%s:%s:%s\n' "$n" "$u" "$h"
		fi
	done)
old_ifs=$IFS
IFS='
'
for line in $users; do
	IFS=$old_ifs
	n=${line%%:*}
	rest=${line#*:}
	u=${rest%%:*}
	h=${rest#*:}
	sec user "$n" "$u" "$h"
	if [ -d "$R$h" ]; then printf 'home\tpresent\n'; else printf 'home\tabsent\n'; fi
	if [ -d "$R$h/.ssh" ]; then
		printf 'ssh-dir\tpresent\n'
		find "$R$h/.ssh" -mindepth 1 -maxdepth 1 -printf 'ssh\t%y\t%s\t%m\t%f\n' 2>/dev/null
	fi
	[ -d "$R$h" ] && find "$R$h" -mindepth 1 -maxdepth 1 -name '.*history' -printf 'history\t%y\t%s\t%m\t%f\n' 2>/dev/null
	for k in "$R$h/.ssh/authorized_keys" "$R$h/.ssh/authorized_keys2"; do
		if [ -f "$k" ]; then
			sec authorized_keys "$n" "${k#"$R"}"
			base64 <"$k"
		fi
	done
done
IFS=$old_ifs

# For the build-key rule only: the authorized_keys of every other account (a recipe may copy
# root's keys to a service user such as git, whose home is outside /home) and any file under
# /etc/ssh (where AuthorizedKeysFile may point). Each file once, however many accounts share it.
covered=" "
for line in $users; do covered="$covered${line%%:*} "; done
{ if [ -z "$R" ] && have getent; then getent passwd; else cat "$R/etc/passwd"; fi; } | {
	seen=" "
	while IFS=: read -r n _ _ _ _ h _; do
		case $covered in *" $n "*) continue ;; esac
		[ -n "$h" ] || continue
		for k in "$R$h/.ssh/authorized_keys" "$R$h/.ssh/authorized_keys2"; do
			[ -f "$k" ] || continue
			case $seen in *" $k "*) continue ;; esac
			seen="$seen$k "
			sec other-authorized-keys "$n" "${k#"$R"}"
			base64 <"$k"
		done
	done
}
if [ -d "$R/etc/ssh" ]; then
	find "$R/etc/ssh" -type f -path '*authorized_keys*' 2>/dev/null | while IFS= read -r k; do
		sec other-authorized-keys "" "${k#"$R"}"
		base64 <"$k"
	done
fi

sec varlog
if [ -d "$R/var/log" ]; then
	find "$R/var/log" -mindepth 1 -maxdepth 1 -printf '%y\t%s\t%f\n'
	if [ -f "$R/var/log/lfd.log" ]; then
		printf '@lfd-filtered-size\t%s\n' "$(grep -v -E '/var/log/messages has been reset| Watching /var/log/messages' "$R/var/log/lfd.log" | wc -c)"
	fi
fi
# First lines of what the log rules flag, so a report says what is in them.
for f in "$R"/var/log/*.log "$R"/var/log/*.[0-9] "$R"/var/log/*-????????; do
	[ -f "$f" ] || continue
	case $f in
	*.gz | *.xz | *.bz2 | *.zst) continue ;;
	*.log) [ "$(wc -c <"$f")" -gt 50 ] || continue ;;
	esac
	sec loghead "${f#"$R"}"
	head -n 3 "$f" | cut -c 1-200 | base64
done

sec do-agent
for d in /opt/digitalocean /var/opt/digitalocean; do
	if [ -e "$R$d" ]; then
		printf 'present\t%s\n' "$d"
		find "$R$d" -mindepth 1 -maxdepth 2 -printf "entry\t$d/%P\n" 2>/dev/null | head -n 20
	fi
done

for d in /tmp /var/tmp; do
	sec tmp "$d"
	if [ -d "$R$d" ]; then
		printf 'mode\t%s\n' "$(stat -c %a "$R$d")"
		find "$R$d" -mindepth 1 -maxdepth 2 -printf 'entry\t%y\t%s\t%P\n' 2>/dev/null | head -n 500
	else
		printf 'missing\n'
	fi
done

for d in per-instance per-boot per-once; do
	dir="$R/var/lib/cloud/scripts/$d"
	[ -d "$dir" ] || continue
	for f in "$dir"/*; do
		[ -e "$f" ] || continue
		sec script "$d" "${f##*/}"
		printf 'stat\t%s\t%s\t%s\n' "$(stat -c '%F' "$f")" "$(stat -c '%a' "$f")" "$(stat -c '%s' "$f")"
		if [ -f "$f" ]; then
			printf 'first\t%s\n' "$(head -c 200 "$f" | head -n 1 | base64 | tr -d '\n')"
			printf 'forcecommand\t%s\n' "$(grep -c -i 'forcecommand' "$f")"
			printf 'match-root\t%s\n' "$(grep -c -i 'match user root' "$f")"
			printf 'sshd_config\t%s\n' "$(grep -c 'sshd_config' "$f")"
		fi
	done
done

for f in "$R/etc/ssh/sshd_config" "$R"/etc/ssh/sshd_config.d/*.conf; do
	[ -f "$f" ] || continue
	sec sshd "${f#"$R"}"
	base64 <"$f"
done

# State only, never the ID: machine-id(5) asks to treat it as confidential.
sec identity
f="$R/etc/machine-id"
if [ -L "$f" ]; then
	printf 'machine-id\tlink\n'
elif [ ! -e "$f" ]; then
	printf 'machine-id\tmissing\n'
elif [ ! -s "$f" ]; then
	printf 'machine-id\tempty\n'
elif [ "$(head -c 13 "$f")" = uninitialized ]; then
	printf 'machine-id\tuninitialized\n'
else
	printf 'machine-id\tset\n'
fi
f="$R/var/lib/dbus/machine-id"
if [ -L "$f" ]; then
	printf 'dbus-machine-id\tlink\t%s\n' "$(readlink "$f")"
elif [ -s "$f" ]; then
	printf 'dbus-machine-id\tset\n'
elif [ -e "$f" ]; then
	printf 'dbus-machine-id\tempty\n'
fi
for f in /var/lib/systemd/random-seed /var/lib/urandom/random-seed /var/lib/random-seed; do
	[ -f "$R$f" ] && printf 'random-seed\t%s\t%s\n' "$(wc -c <"$R$f")" "$f"
done

sec motd
for f in "$R/etc/motd" "$R/etc/motd.tail" "$R"/etc/update-motd.d/* "$R"/etc/profile.d/*; do
	[ -f "$f" ] || continue
	grep -n -i -E "DigitalOcean.{1,3}s (1-Click )?(LAMP|LEMP)|do\.co/2GOFe5J" "$f" 2>/dev/null |
		cut -c 1-200 | sed "s#^#${f#"$R"}$TAB#"
done

sec appinfo
if [ -f "$R/var/lib/digitalocean/application.info" ]; then
	printf 'present\n'
	base64 <"$R/var/lib/digitalocean/application.info"
fi

# Installed packages for the SBOM (name, version, architecture, source package and version),
# read in this round trip after cleanup so the list is the snapshot's. Its own section:
# the rules above never read it.
sec packages
if have dpkg-query && [ -f "$R/var/lib/dpkg/status" ]; then
	printf 'manager\tdpkg\n'
	dpkg-query --admindir="$R/var/lib/dpkg" -W \
		-f '${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n' 2>/dev/null |
		sed -n "s/^installed$TAB/pkg$TAB/p"
elif [ -z "$R" ] && have rpm; then
	printf 'manager\trpm\n'
	rpm -qa --qf 'pkg\t%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t\n' 2>/dev/null
fi

sec end
