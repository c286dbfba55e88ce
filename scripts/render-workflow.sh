#!/usr/bin/env bash
# Regenerates docs/workflow.md from the machine's transition tables: the diagram (Mermaid) and the
# reason codes each guard can refuse with. The text above the diagram is kept as written.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-build/cli/returnflow}
{
  sed -n '1,/^```mermaid$/p' docs/workflow.md
  "$binary" workflow --format mermaid
  echo '```'
  echo
  echo '## Reason codes'
  echo
  echo 'Every refused event carries one of these codes as its `reason` (the `reason` enum of the OpenAPI'
  echo 'document, `reason_codes` and `guards` of `GET /workflow`). A suspended case answers with its'
  echo 'suspension reason.'
  echo
  "$binary" workflow --format reasons
} > docs/workflow.md.new
mv docs/workflow.md.new docs/workflow.md
