#!/usr/bin/env bash
# Fails when a C++ file in the repository differs from what clang-format makes of it
# (.clang-format at the top). Fix with:
#   git ls-files '*.cpp' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z '*.cpp' '*.h' | xargs -0 clang-format --dry-run -Werror
echo "clang-format: every C++ file is formatted"
