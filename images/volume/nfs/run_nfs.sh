#!/bin/sh
# Writes /etc/exports for the given directories (default /exports) and
# serves them read-only over HTTP on port 80 until stopped.
set -eu

[ "$#" -gt 0 ] || set -- /exports
: > /etc/exports
for dir in "$@"; do
	if [ ! -d "$dir" ]; then
		echo "run_nfs.sh: $dir is not a directory" >&2
		exit 1
	fi
	echo "$dir *(rw,fsid=0,insecure,no_root_squash)" >> /etc/exports
done
echo "exports:"
cat /etc/exports
exec httpd -f -v -p 80 -h "$1"
