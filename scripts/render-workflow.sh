#!/usr/bin/env bash
# Regenerates docs/workflow.md from the machine's transition tables.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-build/cli/returnflow}
{
  sed -n '1,/^```mermaid$/p' docs/workflow.md
  "$binary" workflow --format mermaid
  echo '```'
} > docs/workflow.md.new
mv docs/workflow.md.new docs/workflow.md
