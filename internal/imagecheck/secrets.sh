# shellcheck shell=sh
# Searches the machine's disk for the build's own secrets. The patterns arrive on stdin, one a
# line as "<group><TAB><base64 of the pattern>", and live only in a 0700 directory on a memory
# file system that is removed on exit: never on a command line (ps shows those), never on the
# disk being searched. What is searched: every regular file of every writable disk-backed
# mount (what a snapshot holds); /proc, /sys, /dev, /run, memory and network file systems and
# read-only mounts are not. Prints "files<TAB>N", "unreadable<TAB>N", "error<TAB><base64>",
# one "hit<TAB>group<TAB><base64 path>" per file and group found, then "end"; a value never.
# MPI_ROOT searches that tree instead (tests), and paths are printed relative to it.
R="${MPI_ROOT:-}"
LC_ALL=C
export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export PATH
TAB=$(printf '\t')
umask 077

for c in find grep xargs base64 tr; do
	command -v "$c" >/dev/null 2>&1 || {
		echo "secret scan: $c is not installed" >&2
		exit 3
	}
done

tmp=""
# MPI_SCAN_TMP: where tests want the pattern directory (still only on a memory file system).
for d in ${MPI_SCAN_TMP:-/dev/shm /run}; do
	case $(stat -f -c %T "$d" 2>/dev/null) in
	tmpfs | ramfs) tmp=$(mktemp -d "$d/mp-image-scan.XXXXXX") && break ;;
	esac
done
if [ -z "$tmp" ]; then
	echo "secret scan: no memory file system (${MPI_SCAN_TMP:-/dev/shm /run}) to hold the patterns; they are not written to disk" >&2
	exit 3
fi
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

# printf is a shell builtin: the pattern goes through a pipe, never an argument list.
groups=" "
while IFS="$TAB" read -r g b; do
	case $g in '' | *[!0-9]*) continue ;; esac
	printf '%s\n' "$b" | base64 -d >>"$tmp/g$g" || exit 3
	printf '\n' >>"$tmp/g$g"
	case $groups in *" $g "*) ;; *) groups="$groups$g " ;; esac
done
[ "$groups" = " " ] && {
	echo "secret scan: no patterns on stdin" >&2
	exit 3
}
cat "$tmp"/g* >"$tmp/all"

if [ -n "$R" ]; then
	roots="$R"
else
	roots=/
	# shellcheck disable=SC2034 # dev is read to reach the later fields
	while read -r dev mp fs opts _; do
		case $mp in
		/ | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/* | *\\*) continue ;;
		esac
		case ",$opts," in *,ro,*) continue ;; esac
		case $fs in
		proc | sysfs | tmpfs | devtmpfs | devpts | ramfs | cgroup | cgroup2 | mqueue | debugfs | tracefs | securityfs | \
			pstore | bpf | configfs | fusectl | hugetlbfs | autofs | binfmt_misc | efivarfs | squashfs | nsfs | overlay | \
			fuse | fuse.* | nfs | nfs4 | cifs | smb3 | 9p | virtiofs) continue ;;
		esac
		roots="$roots
$mp"
	done </proc/self/mounts
fi

old_ifs=$IFS
IFS='
'
for r in $roots; do
	find "$r" -xdev -type f -print0 2>/dev/null
done >"$tmp/list"
IFS=$old_ifs
printf 'files\t%s\n' "$(tr -cd '\000' <"$tmp/list" | wc -c)"

# grep exits 1 when a batch has no match: errors are read from stderr instead.
xargs -0 -r grep -l -Z -F -f "$tmp/all" -- <"$tmp/list" >"$tmp/hits" 2>"$tmp/err"
printf 'unreadable\t%s\n' "$(grep -c . "$tmp/err")"
head -n 5 "$tmp/err" | while IFS= read -r l; do
	printf 'error\t%s\n' "$(printf '%s' "${l#"$R"}" | base64 | tr -d '\n')"
done

# Which secret each file holds: few files, one quiet grep per group.
# shellcheck disable=SC2016 # expanded by the inner sh
MPI_GROUPS="$groups" MPI_TMP="$tmp" MPI_ROOT="$R" xargs -0 -r -n 1 sh -c '
	for g in $MPI_GROUPS; do
		if grep -q -F -f "$MPI_TMP/g$g" -- "$1"; then
			printf "hit\t%s\t%s\n" "$g" "$(printf "%s" "${1#"$MPI_ROOT"}" | base64 | tr -d "\n")"
		fi
	done' sh <"$tmp/hits"
printf 'end\n'
