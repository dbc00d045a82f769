#!/usr/bin/env bash
# hack/local-stack.sh — run the daemons imgraph needs on this machine (Debian 12, as root).
#
#   hack/local-stack.sh up [--with-dockerd]   install packages, build buildkitd, start services (idempotent)
#   hack/local-stack.sh down                  stop everything this script started
#   hack/local-stack.sh status                one line per service: name state address pid
#   hack/local-stack.sh env                   export lines for eval: BUILDKIT_HOST, IMGRAPH_TEST_REGISTRY, DOCKER_*
#
# Environment:
#   IMGRAPH_STACK_DIR       state directory (default /var/tmp/imgraph-stack)
#   IMGRAPH_REGISTRY_PORT   loopback registry port (default 5000)
#   IMGRAPH_STACK_DOCKERD=1 same as `up --with-dockerd`
#   IMGRAPH_DOCKERD_PORT    TLS port of the Docker daemon (default 2376)
set -euo pipefail

STATE="${IMGRAPH_STACK_DIR:-/var/tmp/imgraph-stack}"
REG_PORT="${IMGRAPH_REGISTRY_PORT:-5000}"
DOCKERD_PORT="${IMGRAPH_DOCKERD_PORT:-2376}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/go/bin"

BK_SOCK="$STATE/buildkitd.sock"
DOCKER_SOCK="$STATE/docker.sock"
CERTS="$STATE/docker-certs"
LOGS="$STATE/logs"

PACKAGES=(runc qemu-user-static binfmt-support docker-registry docker.io busybox-static graphviz git curl openssl ca-certificates)
QEMU_ARCHES=(aarch64 arm ppc64le s390x riscv64)

log() { printf 'local-stack: %s\n' "$*" >&2; }

# fail STEP [LOGFILE]: say which step failed, show the tail of its log, exit 1.
fail() {
	local step="$1" logfile="${2:-}"
	log "FAILED: $step"
	if [[ -n "$logfile" ]]; then
		log "log: $logfile (last 40 lines below)"
		if [[ -f "$logfile" ]]; then tail -n 40 "$logfile" | sed 's/^/  | /' >&2; fi
	fi
	exit 1
}

# pid_alive NAME COMM: true if $STATE/NAME.pid names a live process whose command is COMM.
pid_alive() {
	local name="$1" comm="$2" pid
	[[ -f "$STATE/$name.pid" ]] || return 1
	pid="$(cat "$STATE/$name.pid" 2>/dev/null)" || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$pid/comm" ]] || return 1
	[[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm"* ]] || return 1
	# A zombie (exited, not yet reaped by PID 1) is not running.
	local stat
	stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[[ "${stat:0:1}" != Z ]]
}

pid_of() { cat "$STATE/$1.pid" 2>/dev/null || true; }

# launched_alive NAME: the process in $STATE/NAME.pid exists. Used right after start_detached, when
# the child may still be nohup/setsid and not yet have exec'd the daemon (so its comm differs).
launched_alive() {
	local pid
	pid="$(pid_of "$1")"
	[[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# port_open PORT: something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_detached NAME LOGFILE CMD...: start CMD in its own session, immune to the script's exit,
# and record its pid in $STATE/NAME.pid.
start_detached() {
	local name="$1" logfile="$2"
	shift 2
	printf '\n==== %s: starting %s ====\n' "$(date -Is)" "$*" >>"$logfile"
	# Job control is off in scripts, so the child is not a process-group leader: setsid does not
	# fork and $! is the daemon's own pid (nohup and setsid both exec).
	nohup setsid "$@" </dev/null >>"$logfile" 2>&1 &
	echo "$!" >"$STATE/$name.pid"
}

# stop NAME COMM [TIMEOUT]: SIGTERM, wait, SIGKILL.
stop() {
	local name="$1" comm="$2" timeout="${3:-15}" pid i
	if ! pid_alive "$name" "$comm"; then
		rm -f "$STATE/$name.pid"
		log "$name: not running"
		return 0
	fi
	pid="$(pid_of "$name")"
	log "$name: stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < timeout * 5; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "$name: still alive after ${timeout}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$STATE/$name.pid"
}

# ---------------------------------------------------------------- up steps

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		log "packages: all present"
		return 0
	fi
	[[ "$(id -u)" == 0 ]] || fail "packages: need root to install ${missing[*]}"
	log "packages: installing ${missing[*]} (log $LOGS/apt.log)"
	export DEBIAN_FRONTEND=noninteractive
	{
		apt-get -o DPkg::Lock::Timeout=600 update &&
			apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
	} >>"$LOGS/apt.log" 2>&1 || fail "packages: apt-get install ${missing[*]}" "$LOGS/apt.log"
}

# Foreign Debian architectures, so the deb_file prebuild (busybox-static
# for the example's root image) can `apt-get download pkg:arm64` etc.
DEB_ARCHES=(arm64 armhf ppc64el s390x)

enable_deb_arches() {
	local have missing=() a
	have=" $(dpkg --print-foreign-architectures | tr '\n' ' ') "
	for a in "${DEB_ARCHES[@]}"; do
		[[ "$have" == *" $a "* ]] || missing+=("$a")
	done
	if ((${#missing[@]} == 0)) && [[ -f "$STATE/apt-arches.stamp" ]]; then
		log "dpkg architectures: ${DEB_ARCHES[*]} enabled"
		return 0
	fi
	log "dpkg architectures: adding ${missing[*]:-none}, apt-get update (log $LOGS/apt.log)"
	for a in "${missing[@]}"; do dpkg --add-architecture "$a"; done
	# A mirror caught mid-sync fails some index files; the main archive is
	# what deb_file needs, so retry once and then go on with a warning.
	apt-get -o DPkg::Lock::Timeout=600 update >>"$LOGS/apt.log" 2>&1 ||
		apt-get -o DPkg::Lock::Timeout=600 update >>"$LOGS/apt.log" 2>&1 ||
		log "dpkg architectures: apt-get update reported errors (see $LOGS/apt.log); continuing"
	touch "$STATE/apt-arches.stamp"
}

build_tools() {
	command -v go >/dev/null || fail "build: go not found in PATH ($PATH)"
	local bin="$STATE/bin/buildkitd" bkver ldflags=""
	# Stamp the version the way upstream release builds do, so `buildctl debug workers` and the
	# client's Info() report it (otherwise v0.0.0+unknown).
	bkver="$(cd "$REPO" && go list -m -f '{{.Version}}' github.com/moby/buildkit 2>/dev/null)" || bkver=""
	[[ -n "$bkver" ]] && ldflags="-X github.com/moby/buildkit/version.Version=$bkver"
	if [[ -x "$bin" && "$bin" -nt "$REPO/go.sum" && "$bin" -nt "$REPO/go.mod" ]]; then
		log "buildkitd: binary up to date ($bin)"
	else
		log "buildkitd: building $bin from go.mod tool directive (cold: ~1.5-3 min on 2 cores; log $LOGS/build.log)"
		local t0=$SECONDS
		(cd "$REPO" && go build -ldflags "$ldflags" -o "$bin.tmp" github.com/moby/buildkit/cmd/buildkitd) >>"$LOGS/build.log" 2>&1 ||
			fail "build: go build github.com/moby/buildkit/cmd/buildkitd" "$LOGS/build.log"
		mv -f "$bin.tmp" "$bin"
		log "buildkitd: built in $((SECONDS - t0))s"
	fi
	# buildctl shares nearly all of buildkitd's packages, so it is cheap once buildkitd is built. The
	# project's go.sum lacks a few of its deps (it has no tool directive for it, on purpose), so build it
	# against a private copy of go.mod/go.sum (-modfile) that may gain go.sum lines; the project's files
	# are untouched. Only a convenience (readiness check, debugging): failure is not fatal.
	local ctl="$STATE/bin/buildctl" mod="$STATE/buildctl-mod"
	if [[ -x "$ctl" && "$ctl" -nt "$REPO/go.sum" && "$ctl" -nt "$REPO/go.mod" ]]; then
		:
	elif mkdir -p "$mod" && cp "$REPO/go.mod" "$mod/go.mod" && cp "$REPO/go.sum" "$mod/go.sum" &&
		(cd "$REPO" && go build -mod=mod -modfile="$mod/go.mod" -ldflags "$ldflags" -o "$ctl.tmp" \
			github.com/moby/buildkit/cmd/buildctl) >>"$LOGS/build.log" 2>&1; then
		mv -f "$ctl.tmp" "$ctl"
		log "buildctl: built $ctl"
	else
		rm -f "$ctl.tmp"
		log "buildctl: build failed (not fatal; see $LOGS/build.log)"
	fi
}

setup_binfmt() {
	if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
		log "binfmt: mounting binfmt_misc"
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc >>"$LOGS/binfmt.log" 2>&1 ||
			fail "binfmt: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc" "$LOGS/binfmt.log"
	fi
	local a missing=()
	for a in "${QEMU_ARCHES[@]}"; do
		grep -qx enabled "/proc/sys/fs/binfmt_misc/qemu-$a" 2>/dev/null || missing+=("$a")
	done
	if ((${#missing[@]} > 0)); then
		log "binfmt: enabling QEMU handlers (missing: ${missing[*]})"
		update-binfmts --enable >>"$LOGS/binfmt.log" 2>&1 || true # some unrelated formats may refuse
		for a in "${missing[@]}"; do
			grep -qx enabled "/proc/sys/fs/binfmt_misc/qemu-$a" 2>/dev/null ||
				update-binfmts --enable "qemu-$a" >>"$LOGS/binfmt.log" 2>&1 ||
				fail "binfmt: update-binfmts --enable qemu-$a" "$LOGS/binfmt.log"
		done
	fi
	log "binfmt: qemu handlers enabled for ${QEMU_ARCHES[*]}"
}

start_buildkitd() {
	if pid_alive buildkitd buildkitd; then
		log "buildkitd: already running (pid $(pid_of buildkitd))"
		return 0
	fi
	rm -f "$BK_SOCK"
	mkdir -p "$STATE/buildkit"
	start_detached buildkitd "$LOGS/buildkitd.log" \
		"$STATE/bin/buildkitd" --root "$STATE/buildkit" --addr "unix://$BK_SOCK" \
		--oci-worker=true --containerd-worker=false
	local i
	for ((i = 0; i < 150; i++)); do
		launched_alive buildkitd || fail "buildkitd: process exited during startup" "$LOGS/buildkitd.log"
		if [[ -S "$BK_SOCK" ]]; then
			if [[ ! -x "$STATE/bin/buildctl" ]] ||
				"$STATE/bin/buildctl" --addr "unix://$BK_SOCK" debug workers >/dev/null 2>&1; then
				log "buildkitd: ready at unix://$BK_SOCK (pid $(pid_of buildkitd))"
				return 0
			fi
		fi
		sleep 0.2
	done
	fail "buildkitd: not ready after 30s" "$LOGS/buildkitd.log"
}

write_registry_config() {
	mkdir -p "$STATE/registry"
	cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$REG_PORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

start_registry() {
	if pid_alive registry docker-registry; then
		log "registry: already running (pid $(pid_of registry), $(cat "$STATE/registry.addr" 2>/dev/null))"
		return 0
	fi
	if port_open "$REG_PORT"; then
		fail "registry: 127.0.0.1:$REG_PORT is already in use by a process this script did not start (set IMGRAPH_REGISTRY_PORT)"
	fi
	write_registry_config
	start_detached registry "$LOGS/registry.log" docker-registry serve "$STATE/registry.yml"
	echo "127.0.0.1:$REG_PORT" >"$STATE/registry.addr"
	local i
	for ((i = 0; i < 100; i++)); do
		launched_alive registry || fail "registry: process exited during startup" "$LOGS/registry.log"
		if curl -fsS -o /dev/null "http://127.0.0.1:$REG_PORT/v2/" 2>/dev/null; then
			log "registry: ready at http://127.0.0.1:$REG_PORT (pid $(pid_of registry))"
			return 0
		fi
		sleep 0.2
	done
	fail "registry: http://127.0.0.1:$REG_PORT/v2/ not answering after 20s" "$LOGS/registry.log"
}

gen_certs() {
	if [[ -s "$CERTS/ca.pem" && -s "$CERTS/cert.pem" && -s "$CERTS/key.pem" &&
		-s "$CERTS/server-cert.pem" && -s "$CERTS/server-key.pem" ]]; then
		return 0
	fi
	log "dockerd: generating TLS CA, server and client certificates in $CERTS"
	mkdir -p "$CERTS"
	local l="$LOGS/certs.log"
	(
		set -e
		cd "$CERTS"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
			-keyout ca-key.pem -out ca.pem -subj "/CN=imgraph-local-stack-ca"
		# server
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout server-key.pem -out server.csr -subj "/CN=localhost"
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server-ext.cnf
		openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
			-out server-cert.pem -extfile server-ext.cnf
		# client
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout key.pem -out client.csr -subj "/CN=imgraph-client"
		printf 'extendedKeyUsage=clientAuth\n' >client-ext.cnf
		openssl x509 -req -sha256 -days 3650 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
			-out cert.pem -extfile client-ext.cnf
		rm -f server.csr client.csr
		chmod 0644 ca.pem cert.pem server-cert.pem
	) >>"$l" 2>&1 || fail "dockerd: certificate generation with openssl" "$l"
}

dockerd_ping() {
	curl -fsS --max-time 3 --cacert "$CERTS/ca.pem" --cert "$CERTS/cert.pem" --key "$CERTS/key.pem" \
		"https://127.0.0.1:$DOCKERD_PORT/_ping" 2>/dev/null | grep -q OK
}

start_dockerd() {
	if pid_alive dockerd dockerd; then
		log "dockerd: already running (pid $(pid_of dockerd))"
		return 0
	fi
	if port_open "$DOCKERD_PORT"; then
		fail "dockerd: 127.0.0.1:$DOCKERD_PORT is already in use by a process this script did not start"
	fi
	# A launch that never got as far as writing --pidfile (interrupted earlier `up`).
	if pid_alive dockerd-launch dockerd; then stop dockerd-launch dockerd 10; fi
	gen_certs
	# A containerd left over from a dockerd that was killed hard would hold the state dirs.
	local ctr_pid
	ctr_pid="$(cat "$STATE/docker-exec/containerd/containerd.pid" 2>/dev/null || true)"
	if [[ "$ctr_pid" =~ ^[0-9]+$ && "$(cat "/proc/$ctr_pid/comm" 2>/dev/null)" == containerd ]]; then
		log "dockerd: stopping leftover containerd pid $ctr_pid"
		kill -TERM "$ctr_pid" 2>/dev/null || true
		sleep 2
	fi
	rm -f "$DOCKER_SOCK" "$STATE/dockerd.pid" "$STATE/dockerd-launch.pid"
	mkdir -p "$STATE/docker" "$STATE/docker-exec"
	# No bridge, no iptables/NAT, no ip_forward: the daemon needs nothing beyond loopback and must not
	# touch the host's network configuration. Empty --config-file so /etc/docker/daemon.json is ignored.
	echo '{}' >"$STATE/dockerd.json"
	# dockerd writes --pidfile itself and refuses to start if that file names a live process, so the
	# launcher's pid goes to a separate file (same pid; used until dockerd has written its own).
	start_detached dockerd-launch "$LOGS/dockerd.log" \
		dockerd --config-file "$STATE/dockerd.json" \
		--data-root "$STATE/docker" --exec-root "$STATE/docker-exec" \
		--pidfile "$STATE/dockerd.pid" \
		-H "unix://$DOCKER_SOCK" -H "tcp://127.0.0.1:$DOCKERD_PORT" \
		--tlsverify --tlscacert "$CERTS/ca.pem" \
		--tlscert "$CERTS/server-cert.pem" --tlskey "$CERTS/server-key.pem" \
		--bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
		--insecure-registry "127.0.0.1:$REG_PORT"
	local i
	for ((i = 0; i < 300; i++)); do
		launched_alive dockerd-launch || fail "dockerd: process exited during startup" "$LOGS/dockerd.log"
		if dockerd_ping && pid_alive dockerd dockerd; then
			rm -f "$STATE/dockerd-launch.pid"
			log "dockerd: ready at tcp://127.0.0.1:$DOCKERD_PORT (TLS, certs in $CERTS; pid $(pid_of dockerd))"
			return 0
		fi
		sleep 0.2
	done
	fail "dockerd: https://127.0.0.1:$DOCKERD_PORT/_ping not answering after 60s" "$LOGS/dockerd.log"
}

# ---------------------------------------------------------------- subcommands

cmd_up() {
	local with_dockerd="${IMGRAPH_STACK_DOCKERD:-0}" a
	for a in "$@"; do
		case "$a" in
		--with-dockerd) with_dockerd=1 ;;
		*) fail "up: unknown argument $a (usage: up [--with-dockerd])" ;;
		esac
	done
	[[ "$(id -u)" == 0 ]] || fail "up: must run as root (rootful buildkitd, binfmt_misc, dockerd)"
	mkdir -p "$STATE/bin" "$LOGS"
	install_packages
	enable_deb_arches
	build_tools
	setup_binfmt
	start_buildkitd
	start_registry
	if [[ "$with_dockerd" == 1 ]]; then start_dockerd; fi
	cmd_status
}

cmd_down() {
	stop dockerd dockerd 30
	stop dockerd-launch dockerd 10 2>/dev/null # only set while a start was interrupted
	# dockerd stops its managed containerd; make sure of it.
	local ctr_pid
	ctr_pid="$(cat "$STATE/docker-exec/containerd/containerd.pid" 2>/dev/null || true)"
	if [[ "$ctr_pid" =~ ^[0-9]+$ && "$(cat "/proc/$ctr_pid/comm" 2>/dev/null)" == containerd ]]; then
		log "containerd: stopping leftover pid $ctr_pid"
		kill -TERM "$ctr_pid" 2>/dev/null || true
	fi
	stop registry docker-registry 10
	stop buildkitd buildkitd 20
	rm -f "$BK_SOCK" "$DOCKER_SOCK"
}

status_line() { printf '%-10s %-8s %-62s %s\n' "$@"; }

cmd_status() {
	local reg_addr
	reg_addr="$(cat "$STATE/registry.addr" 2>/dev/null || echo "127.0.0.1:$REG_PORT")"
	if pid_alive buildkitd buildkitd; then
		status_line buildkitd running "unix://$BK_SOCK" "pid=$(pid_of buildkitd)"
	else status_line buildkitd stopped "unix://$BK_SOCK" "pid=-"; fi
	if pid_alive registry docker-registry; then
		status_line registry running "http://$reg_addr" "pid=$(pid_of registry)"
	else status_line registry stopped "http://$reg_addr" "pid=-"; fi
	if pid_alive dockerd dockerd; then
		status_line dockerd running "tcp://127.0.0.1:$DOCKERD_PORT unix://$DOCKER_SOCK" "pid=$(pid_of dockerd)"
	else status_line dockerd stopped "tcp://127.0.0.1:$DOCKERD_PORT" "pid=-"; fi
}

cmd_env() {
	local reg_addr
	reg_addr="$(cat "$STATE/registry.addr" 2>/dev/null || echo "127.0.0.1:$REG_PORT")"
	pid_alive buildkitd buildkitd || log "warning: buildkitd is not running (hack/local-stack.sh up)"
	pid_alive registry docker-registry || log "warning: registry is not running (hack/local-stack.sh up)"
	printf 'export BUILDKIT_HOST=%q\n' "unix://$BK_SOCK"
	printf 'export IMGRAPH_TEST_REGISTRY=%q\n' "$reg_addr"
	if pid_alive dockerd dockerd; then
		printf 'export DOCKER_HOST=%q\n' "tcp://127.0.0.1:$DOCKERD_PORT"
		printf 'export DOCKER_CERT_PATH=%q\n' "$CERTS"
		printf 'export DOCKER_TLS_VERIFY=1\n'
	fi
}

usage() {
	sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "$cmd" in
	up) cmd_up "$@" ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	-h | --help | help | "") usage ;;
	*) log "unknown subcommand: $cmd"; usage ;;
	esac
}

main "$@"
