#!/bin/sh
# Copies Chart.js's UMD build and licence into the window's static files, where they are
# committed: the window serves them itself, so pages need no CDN (a browser in a civil-affairs
# office may reach nothing but the window) and the CSP stays script-src 'self'.
#
# The version is package.json's; the tarball must have the integrity pinned below, so that a
# registry answering something else for the same version is noticed. To upgrade: change the
# version in package.json and INTEGRITY here (`npm view chart.js@X dist.integrity`), run
# `sh services/window/vendor.sh`, then the browser test (tests/e2e/test_window_policy_browser.py).
# npm pack, not npm install: no node_modules/ in the work tree, nothing else is fetched.
set -eu
INTEGRITY="sha512-xachB+pPHjp0syJi7llUBA1w3kMYl6NF3o7eVrvjnWCT+IB2zMaF2pX5UYDiwbbfsioFEIRnAjreNOMsGj5TIA=="
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(node -p "require('$root/package.json').devDependencies['chart.js']")
target="$root/services/window/entrypoints/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
got=$(npm pack --silent --json "chart.js@$version" \
      | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))')
if [ "$got" != "$INTEGRITY" ]; then
  echo "chart.js@$version: integrity $got, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "chart.js-$version.tgz"
mkdir -p "$target"
cp package/dist/chart.umd.js "$target/chart.umd.js"
cp package/LICENSE.md "$target/chart.js.LICENSE.md"
echo "chart.js $version -> $target"
