#!/bin/sh
# debian/build.sh OUT: builds the Debian packages in a fresh copy of this tree,
# OUT/scio-VERSION, with dpkg-buildpackage; the .debs land in OUT.  The
# checkout itself is never written to.  Then lintian checks them and
# fails on errors.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: debian/build.sh OUTDIR}

version=$(sed -n 's/^#define SCIO_VERSION "\(.*\)"/\1/p' lib/scio.h)
changelog=$(dpkg-parsechangelog -S Version)
if [ "$version" != "$changelog" ]; then
	echo "debian/build.sh: lib/scio.h says $version, debian/changelog $changelog;" \
		"add a changelog entry (dch -v $version)" >&2
	exit 1
fi

# The files of the checkout: git's tracked and new ones (none it ignores,
# so no build output), or everything but build trees outside git.
copy_tree() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			tar --null --ignore-failed-read -T - -cf - 2>/dev/null
	else
		tar --exclude='./build*' --exclude=./.git --exclude=__pycache__ \
			--exclude=.pytest_cache -cf - .
	fi | tar -C "$1" -xf -
}

rm -rf "$out"
src=$out/scio-$version
mkdir -p "$src"
copy_tree "$src"
(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign)
ls "$out"/*.deb
lintian --fail-on error "$out"/scio_"$version"_*.changes
