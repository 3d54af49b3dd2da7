#!/usr/bin/env bash
# Build dist/reverie/ and check the frozen app on its own: size, what stays out, and the
# commands a tester runs (seeds, render, bench, demo, the player recording, replay).
# The app runs with a bare environment (no PYTHONPATH, no virtualenv on PATH) and the
# player's memory map is checked for anything loaded from a Python installation.
#   bash packaging/smoke.sh            # build, then check
#   SKIP_BUILD=1 bash packaging/smoke.sh
#   WORLD=/path/to/pack bash packaging/smoke.sh   # run the commands on another pack (default: the bundled one)
# $PYTHON (the build's Python) only makes a test seed if the pack has none and counts frames.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
APP="$PWD/dist/reverie/reverie"
WORLD="${WORLD:-freedoom}"
[ -x "$APP.exe" ] && APP="$APP.exe"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
took() { printf "%.1f" "$(echo "$(now) - $1" | bc)"; }
app() {   # the frozen app with a bare environment and throwaway user folders
    env -i PATH=/usr/bin:/bin HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data" \
        QT_QPA_PLATFORM=offscreen "$APP" "$@"
}
frames_in() { "$PYTHON" -c "import sys; from model.play.video import read_video; print(len(read_video(sys.argv[1])))" "$1"; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    t=$(now); bash packaging/build.sh || fail "build"; echo "smoke: build $(took "$t") s"
fi
[ -x "$APP" ] || fail "$APP missing"

size=$(du -sm dist/reverie | cut -f1)
echo "smoke: bundle ${size} MB"
# 412 MB with the map (29 MB of posed views) and the atlas; Qt and ONNX Runtime are most of it
[ "$size" -le 440 ] || fail "bundle is ${size} MB (budget 440)"
leaked=$(find dist/reverie \( -type d \( -name torch -o -name vizdoom -o -name onnx -o -name safetensors \) \) \
         -o -name "*.safetensors" -o -name "libtorch*" | head -5)
[ -z "$leaked" ] || fail "training-only files in the bundle: $leaked"

t=$(now); app seeds > "$TMP/seeds.txt" || fail "seeds"           # finds the bundled pack by itself
echo "smoke: seeds (start-up and the bundled pack) $(took "$t") s: $(head -1 "$TMP/seeds.txt")"
app seeds --world "$WORLD" > "$TMP/seeds.txt" || fail "seeds --world $WORLD"
if grep -q ": 0 scene seeds" "$TMP/seeds.txt"; then       # a pack without seeds yet: bring one
    "$PYTHON" -c "import numpy as np, sys; np.savez(sys.argv[1], frames=np.random.default_rng(0).integers(0, 256, (1, 120, 160, 3), dtype=np.uint8))" "$TMP/seed.npz" \
        || fail "making a test seed"
    SEED=(--world "$WORLD" --seed "$TMP/seed.npz")
else
    SEED=(--world "$WORLD")
fi
cat > "$TMP/acts.json" <<'JSON'
{"buttons": ["MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT", "TURN_LEFT", "TURN_RIGHT", "ATTACK", "USE"],
 "actions": [[1,0,0,0,0,0,0,0],[1,0,0,0,1,0,0,0],[0,0,0,0,0,1,1,0],[0,0,0,0,0,0,0,1]]}
JSON

t=$(now); app render "${SEED[@]}" --actions "$TMP/acts.json" --steps 100 --out "$TMP/render.mp4" --scale 4 --overlay 2>/dev/null \
    || fail "render"
echo "smoke: render 100 frames to MP4 (scale 4, overlay) $(took "$t") s, $(frames_in "$TMP/render.mp4") frames decoded"
app render "${SEED[@]}" --actions "$TMP/acts.json" --out "$TMP/render.npz" 2>/dev/null || fail "render .npz"

t=$(now); app bench --world "$WORLD" --frames 100 --json > "$TMP/bench.json" || fail "bench"
echo "smoke: bench --frames 100 $(took "$t") s: $(cat "$TMP/bench.json")"
grep -q '"frames": 100' "$TMP/bench.json" || fail "bench output"

t=$(now); app demo "${SEED[@]}" --frames 50 --overlay --out "$TMP/demo.mp4" >/dev/null 2>&1 || fail "demo"
echo "smoke: demo $(took "$t") s, $(frames_in "$TMP/demo.mp4") frames"

app render "${SEED[@]}" --backend cuda --actions "$TMP/acts.json" --out "$TMP/x.npz" 2> "$TMP/err.txt"
[ $? -eq 2 ] && [ "$(wc -l < "$TMP/err.txt")" -eq 1 ] || fail "bad input should be one line, exit 2: $(cat "$TMP/err.txt")"

# The player: record until 3 s are in the session file, then kill it as a crash would.
t=$(now)
app play "${SEED[@]}" --record "$TMP/play.mp4" > "$TMP/play.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    grep -q '"actions":\[\[' "$TMP/play.json" 2>/dev/null && [ "$(grep -o '\],\[' "$TMP/play.json" | wc -l)" -ge 75 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.2
done
kill -0 $pid 2>/dev/null || fail "the player exited: $(tail -3 "$TMP/play.log")"
grep -q "warning: PySide6" "$TMP/play.log" && fail "$(grep -m1 "warning: PySide6" "$TMP/play.log")"
foreign=$(grep -E "site-packages|/venv/|pyenv" /proc/$pid/maps | awk '{print $6}' | sort -u | head -3)
kill -9 $pid; wait $pid 2>/dev/null
[ -z "$foreign" ] || fail "the player loaded files from a Python installation: $foreign"
echo "smoke: player recorded 3 s in $(took "$t") s (killed), $(frames_in "$TMP/play.mp4") frames in its MP4"

t=$(now); app replay "$TMP/play.json" --out "$TMP/replay.mp4" 2>/dev/null || fail "replay"
echo "smoke: replay $(took "$t") s, $(frames_in "$TMP/replay.mp4") frames"
echo "smoke: OK"
