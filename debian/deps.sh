#!/bin/sh
# Installs what `make deb` needs, only what is missing: the build
# dependencies of debian/control (dpkg-checkbuilddeps says which are
# unmet; apt-get build-dep installs them) and lintian.  Runs apt-get update
# only when an install fails, which is what missing package lists do.
set -eu
cd "$(dirname "$0")/.."

unmet=$(dpkg-checkbuilddeps 2>&1) && unmet=
command -v lintian >/dev/null 2>&1 && lint= || lint=lintian
[ -z "$unmet" ] && [ -z "$lint" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	[ -n "$unmet" ] && echo "scio: $unmet" >&2
	[ -n "$lint" ] && echo "scio: lintian is not installed" >&2
	echo "scio: as root, in $PWD:${unmet:+ apt-get build-dep ./}${unmet:+${lint:+ &&}}${lint:+ apt-get install lintian}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT="apt-get -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120"

install_missing() {
	if [ -n "$unmet" ]; then
		$APT build-dep ./ >&2 || return 1
	fi
	if [ -n "$lint" ]; then
		$APT install lintian >&2 || return 1
	fi
}

echo "scio: installing for make deb:${unmet:+ $unmet}${lint:+ lintian}" >&2
if ! install_missing; then
	echo "scio: install failed; updating the package lists and trying again" >&2
	apt-get -qq -o DPkg::Lock::Timeout=120 update >&2
	install_missing
fi
