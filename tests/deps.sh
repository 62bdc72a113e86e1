#!/bin/sh
# Installs the Debian packages the tests, benchmarks and demo need, only
# those that are missing.  Says what it installs; installs nothing as
# non-root.  With "ci", also what .ci/run adds: clang with libFuzzer (the
# clang build, make fuzz) and shellcheck.
set -eu

PY=/usr/bin/python3
missing=""
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_py() { "$PY" -c "import $1" >/dev/null 2>&1 || missing="$missing $2"; }

need_cmd ip iproute2
need_cmd nft nftables
need_cmd socat socat
need_cmd nc.openbsd netcat-openbsd
need_cmd inetutils-telnet inetutils-telnet
need_cmd curl curl
need_cmd tayga tayga
need_cmd wget wget
need_cmd strace strace
need_cmd valgrind valgrind
need_cmd groff groff-base
need_cmd gcc gcc
need_cmd pkg-config pkg-config
need_cmd readelf binutils
need_cmd musl-gcc musl-tools
need_cmd rsync rsync
need_cmd ruby ruby
need_cmd node nodejs
need_py pytest python3-pytest
need_py xdist python3-pytest-xdist
need_py aiosmtpd python3-aiosmtpd
need_py pyftpdlib python3-pyftpdlib
need_py dns.message python3-dnspython
need_fuzzer() {
	dir=$(clang -print-runtime-dir 2>/dev/null) || dir=/nonexistent
	[ -e "$dir/libclang_rt.fuzzer-$(uname -m).a" ] || missing="$missing libclang-rt-dev"
}
if [ "${1:-}" = ci ]; then
	need_cmd clang clang
	need_fuzzer
	need_cmd shellcheck shellcheck
fi

[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "scio: the tests need these Debian packages:$missing" >&2
	echo "scio: install them as root (apt-get install$missing)" >&2
	exit 1
fi
echo "scio: installing Debian packages for the tests:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
