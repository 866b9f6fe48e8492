#!/usr/bin/env bash
# make lint: shellcheck every shell script in the repository: the *.sh files
# and the files without that suffix that start with a sh or bash shebang
# (entrypoints, .ci/run). Fails, never skips, when shellcheck is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null; then
	echo "lint: shellcheck is not installed: run 'make deps' (Debian package shellcheck)" >&2
	exit 1
fi
scripts=()
while IFS= read -r -d '' f; do
	case $f in
	*.sh) scripts+=("$f") ;;
	*)
		if [ -f "$f" ] && head -n 1 "$f" | grep -qE '^#! */([^ ]*/)?(env +)?(ba|da|k)?sh( |$)'; then
			scripts+=("$f")
		fi
		;;
	esac
done < <(git ls-files -z)
# A failing git ls-files above would look like a repository without scripts.
if [ ${#scripts[@]} -eq 0 ]; then
	echo "lint: no shell scripts found (is this a git checkout?)" >&2
	exit 1
fi
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck "${scripts[@]}"
