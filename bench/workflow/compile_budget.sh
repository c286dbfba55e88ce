#!/usr/bin/env bash
# Measures the compile time and peak compiler memory of each translation unit that instantiates the
# state machine, with the exact flags of the build (from compile_commands.json). Run after a build.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
python3 - "$build" <<'PY'
import json, subprocess, sys, time, resource, os
build = sys.argv[1]
commands = json.load(open(os.path.join(build, "compile_commands.json")))
units = [c for c in commands if "/workflow/machine" in c["file"] or c["file"].endswith("workflow/definition.cpp")]
print(f"{'translation unit':45} {'seconds':>8} {'peak MB':>8}")
for unit in sorted(units, key=lambda c: c["file"]):
    command = unit["command"].split(" -o ")[0] + " -o /dev/null -c " + unit["file"]
    command = command.replace(" -c " + unit["file"] + " -o /dev/null -c ", " -o /dev/null -c ")
    start = time.time()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "bash", "-c", command], cwd=unit["directory"],
                            capture_output=True, text=True)
    elapsed = time.time() - start
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    print(f"{os.path.relpath(unit['file']):45} {elapsed:8.1f} {peak_kb / 1024:8.0f}")
print(f"\nload average while measuring: {os.getloadavg()[0]:.2f} (2 cores)")
PY
