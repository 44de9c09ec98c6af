#!/usr/bin/env bash
# Fails when a C++ or CUDA source differs from what clang-format makes of it with the project's
# .clang-format, and names each such file. Run `clang-format -i FILE` to fix one. The files are
# the ones git tracks (every *.cpp, *.hpp, *.h, *.cu outside tests/browser); outside a git
# checkout, the same patterns found on disk.
set -uo pipefail
cd "$(dirname "$0")/.."
format=${CLANG_FORMAT:-clang-format}
command -v "$format" >/dev/null || { echo "check-format: $format not found (tools/install-deps.sh)"; exit 2; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cu' | grep -v '^tests/browser/')
else
  mapfile -t files < <(find actors cluster_config http model tools tests -path tests/browser -prune -o \
                         \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cu' \) -print | sort)
fi
drifted=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  "$format" --dry-run --Werror "$f" >/dev/null 2>&1 || drifted+=("$f")
done
if ((${#drifted[@]} > 0)); then
  echo "check-format: ${#drifted[@]} of ${#files[@]} files differ from .clang-format:"
  printf '  %s\n' "${drifted[@]}"
  exit 1
fi
echo "check-format: ${#files[@]} files follow .clang-format"
