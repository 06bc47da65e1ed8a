#!/usr/bin/env bash
# Regenerates screenshots/*.svg and *.png from a seeded fleet (no terminal, no server):
# the views are drawn off-screen by tests/tui_screenshots.rs and converted with
# rsvg-convert (Debian package librsvg2-bin, installed here if missing and possible).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/screenshots"
mkdir -p "$out"
FLEETDECK_SCREENSHOTS="$out" cargo test --quiet --test tui_screenshots screenshots_render_to_svg
if ! command -v rsvg-convert >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq librsvg2-bin) >/dev/null
  else
    echo "screenshots: SVGs written; install librsvg2-bin (rsvg-convert) for PNGs" >&2
    exit 0
  fi
fi
for svg in "$out"/*.svg; do
  rsvg-convert --zoom 1.5 --background-color '#1a1b26' -o "${svg%.svg}.png" "$svg"
done
ls -1 "$out"
