#!/usr/bin/env bash
# Copy MathJax and 3Dmol.js from the npm registry into DEST (git-ignored), for the book to work
# offline (book/_ext/offline_assets.py serves them from _static).
#   usage: .ci/vendor_assets.sh DEST MATHJAX_VERSION 3DMOL_VERSION [--required]
# Without npm: prints that the book will load both from a CDN and exits 0, or 1 with --required
# (CI). Re-running with the same versions does nothing; npm's cache makes a re-download rare.
set -euo pipefail
dest=$1 mathjax=$2 threedmol=$3 required=${4:-}
want="{\"mathjax\": \"$mathjax\", \"3dmol\": \"$threedmol\"}"
if [ -f "$dest/offline-assets.json" ] && [ "$(cat "$dest/offline-assets.json")" = "$want" ] \
   && [ -f "$dest/mathjax/tex-mml-chtml.js" ] && [ -f "$dest/3dmol/3Dmol-min.js" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: the book will load MathJax and 3Dmol.js from a CDN (it then needs the network"
    echo "to show equations and 3D views). Install Node.js and npm, then re-run make, for an offline book."
    [ "$required" = "--required" ] && exit 1
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "Copying mathjax@$mathjax and 3dmol@$threedmol from the npm registry into $dest"
(cd "$tmp" && npm pack --silent --prefer-offline "mathjax@$mathjax" "3dmol@$threedmol" >/dev/null)
mkdir -p "$tmp/mathjax" "$tmp/3dmol"
tar -xzf "$tmp/mathjax-$mathjax.tgz" -C "$tmp/mathjax" --strip-components=1
tar -xzf "$tmp/3dmol-$threedmol.tgz" -C "$tmp/3dmol" --strip-components=1
rm -rf "$dest"
mkdir -p "$dest/mathjax" "$dest/3dmol"
cp -r "$tmp/mathjax/es5/." "$dest/mathjax/"                  # every component, fonts included
cp "$tmp/mathjax/LICENSE" "$dest/mathjax/LICENSE"
cp "$tmp/3dmol/build/3Dmol-min.js" "$tmp/3dmol/build/3Dmol-min.js.LICENSE.txt" "$dest/3dmol/"
cp "$tmp/3dmol/LICENSE" "$dest/3dmol/LICENSE"
echo "$want" > "$dest/offline-assets.json"
