#!/usr/bin/env bash
# System libraries Reverie uses: PortAudio (sound), the Qt xcb platform's X libraries,
# and Xvfb for a screen on headless machines. Debian/Ubuntu; elsewhere it says what to get.
# Without PortAudio the player runs silent and says so; nothing else here is required
# for the tests, which run Qt offscreen.
set -u
pkgs="libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
libxcb-render-util0 libxcb-image0 xvfb xauth"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: no apt-get here; install PortAudio and Qt 6's xcb libraries with your package manager"
    exit 0
fi
missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
echo "system-deps: installing $(echo $missing | tr '\n' ' ')"
$sudo apt-get update -qq >/dev/null 2>&1 || true
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 \
    || echo "system-deps: could not install all of: $missing (the app degrades without them)"
exit 0
