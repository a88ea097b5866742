#!/usr/bin/env bash
# Copy MathJax, 3Dmol.js and reveal.js from the npm registry into DEST (git-ignored), for the book
# and its slides to work offline (book/_ext/offline_assets.py serves MathJax and 3Dmol.js from
# _static; tools/slides.py copies reveal.js and MathJax next to the decks).
#   usage: .ci/vendor_assets.sh DEST MATHJAX_VERSION 3DMOL_VERSION REVEAL_VERSION [--required]
# Without npm: prints that the book will load both from a CDN and exits 0, or 1 with --required
# (CI). Re-running with the same versions does nothing; npm's cache makes a re-download rare.
set -euo pipefail
dest=$1 mathjax=$2 threedmol=$3 reveal=$4 required=${5:-}
want="{\"mathjax\": \"$mathjax\", \"3dmol\": \"$threedmol\", \"reveal\": \"$reveal\"}"
if [ -f "$dest/offline-assets.json" ] && [ "$(cat "$dest/offline-assets.json")" = "$want" ] \
   && [ -f "$dest/mathjax/tex-mml-chtml.js" ] && [ -f "$dest/3dmol/3Dmol-min.js" ] \
   && [ -f "$dest/reveal/dist/reveal.js" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: the book will load MathJax and 3Dmol.js from a CDN (it then needs the network"
    echo "to show equations and 3D views), and \`make slides\` cannot build the decks (no reveal.js)."
    echo "Install Node.js and npm, then re-run make, for an offline book and its slides."
    [ "$required" = "--required" ] && exit 1
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "Copying mathjax@$mathjax, 3dmol@$threedmol and reveal.js@$reveal from the npm registry into $dest"
(cd "$tmp" && npm pack --silent --prefer-offline "mathjax@$mathjax" "3dmol@$threedmol" "reveal.js@$reveal" >/dev/null)
mkdir -p "$tmp/mathjax" "$tmp/3dmol" "$tmp/reveal"
tar -xzf "$tmp/mathjax-$mathjax.tgz" -C "$tmp/mathjax" --strip-components=1
tar -xzf "$tmp/3dmol-$threedmol.tgz" -C "$tmp/3dmol" --strip-components=1
tar -xzf "$tmp/reveal.js-$reveal.tgz" -C "$tmp/reveal" --strip-components=1
rm -rf "$dest"
mkdir -p "$dest/mathjax" "$dest/3dmol"
cp -r "$tmp/mathjax/es5/." "$dest/mathjax/"                  # every component, fonts included
cp "$tmp/mathjax/LICENSE" "$dest/mathjax/LICENSE"
cp "$tmp/3dmol/build/3Dmol-min.js" "$tmp/3dmol/build/3Dmol-min.js.LICENSE.txt" "$dest/3dmol/"
cp "$tmp/3dmol/LICENSE" "$dest/3dmol/LICENSE"
# reveal.js: the script, its CSS, the white theme with its fonts, the speaker-notes plugin.
mkdir -p "$dest/reveal/dist/theme" "$dest/reveal/plugin/notes"
cp "$tmp/reveal/dist/reveal.js" "$tmp/reveal/dist/reveal.css" "$tmp/reveal/dist/reset.css" "$dest/reveal/dist/"
cp "$tmp/reveal/dist/theme/white.css" "$dest/reveal/dist/theme/"
cp -r "$tmp/reveal/dist/theme/fonts" "$dest/reveal/dist/theme/fonts"
cp "$tmp/reveal/plugin/notes/notes.js" "$dest/reveal/plugin/notes/"  # the speaker view is inlined in it
cp "$tmp/reveal/LICENSE" "$dest/reveal/LICENSE"
echo "$want" > "$dest/offline-assets.json"
