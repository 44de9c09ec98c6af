#!/usr/bin/env bash
# What `cmake --install` and `cpack -G DEB` make, checked (ctest `package_check`): the programs,
# the built-in model, the example configs, the systemd units and /etc/muse in place; the installed
# muse-node accepting the installed configs (so their model paths resolve); an operator's config
# kept by a reinstall; and the Debian package holding the same, with its dependencies, maintainer
# scripts and conffiles.
# Usage: tools/check-package.sh [BUILD_DIR]   (default build; needs dpkg-deb and dpkg-shlibdeps)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
fail() {
  echo "package check: $*" >&2
  exit 1
}
root=$stage/root
install() { DESTDIR=$root cmake --install "$build" --prefix /usr >"$stage/install.log"; }
install || { cat "$stage/install.log"; fail "cmake --install failed"; }

for file in usr/bin/muse-node usr/bin/actor-stats usr/bin/muse-bench usr/bin/muse-generate \
  usr/share/muse/model/weights/muse-tiny/model_index.json \
  usr/share/muse/cluster_config/local.json usr/share/muse/cluster_config/README.md \
  usr/share/doc/muse/deploy.md usr/lib/systemd/system/muse-gateway.service \
  usr/lib/systemd/system/muse-gpu@.service etc/muse/cluster.json etc/muse/environment; do
  [ -e "$root/$file" ] || fail "/$file is not installed"
done
grep -qx 'ExecStart=/usr/bin/muse-node --role=gateway --config /etc/muse/cluster.json' \
  "$root/usr/lib/systemd/system/muse-gateway.service" || fail "muse-gateway.service: wrong ExecStart"
grep -qx 'ExecStart=/usr/bin/muse-node --role=gpu --config /etc/muse/cluster.json --node %i' \
  "$root/usr/lib/systemd/system/muse-gpu@.service" || fail "muse-gpu@.service: wrong ExecStart"
grep -qx 'EnvironmentFile=-/etc/muse/environment' "$root/usr/lib/systemd/system/muse-gateway.service" ||
  fail "muse-gateway.service: no environment file"
grep -q '"path": "/usr/share/muse/model/weights/muse-tiny"' "$root/etc/muse/cluster.json" ||
  fail "/etc/muse/cluster.json does not name the installed model"
[ "$(stat -c %a "$root/etc/muse/environment")" = 640 ] || fail "/etc/muse/environment is not mode 0640"

# The installed program takes the installed example config (relative model path) and the
# deployment config (absolute model path, pointed here at the staging root).
"$root/usr/bin/muse-node" --check-config "$root/usr/share/muse/cluster_config/local.json" \
  >"$stage/check1.log" 2>&1 || { cat "$stage/check1.log"; fail "the example config does not check"; }
sed "s#\"/usr/share/muse/#\"$root/usr/share/muse/#" "$root/etc/muse/cluster.json" >"$stage/cluster.json"
"$root/usr/bin/muse-node" --check-config "$stage/cluster.json" >"$stage/check2.log" 2>&1 ||
  { cat "$stage/check2.log"; fail "the deployment config does not check"; }

# A reinstall keeps the operator's config.
echo '{"edited": true}' >"$root/etc/muse/cluster.json"
install || fail "the second cmake --install failed"
[ "$(cat "$root/etc/muse/cluster.json")" = '{"edited": true}' ] || fail "a reinstall replaced /etc/muse/cluster.json"

# The Debian package.
(cd "$stage" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$stage/deb" >"$stage/cpack.log" 2>&1) ||
  { cat "$stage/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(ls "$stage"/deb/*.deb)
dpkg-deb -c "$deb" >"$stage/contents"
for file in ./usr/bin/muse-node ./usr/share/muse/model/weights/muse-tiny/model_index.json \
  ./usr/lib/systemd/system/muse-gateway.service ./etc/muse/cluster.json ./etc/muse/environment; do
  grep -q " $file\$" "$stage/contents" || fail "the package lacks $file"
done
depends=$(dpkg-deb -f "$deb" Depends)
for library in libtorch libcaf adduser; do
  [[ $depends == *"$library"* ]] || fail "the package's Depends lacks $library: $depends"
done
dpkg-deb -e "$deb" "$stage/control"
[ -x "$stage/control/postinst" ] && [ -x "$stage/control/prerm" ] || fail "maintainer scripts missing"
grep -qx /etc/muse/cluster.json "$stage/control/conffiles" || fail "cluster.json is not a conffile"
echo "package check: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB): install, units, configs and package as expected"
