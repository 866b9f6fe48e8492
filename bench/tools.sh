#!/usr/bin/env bash
# bench/tools.sh: installs the benchmark's peers. Idempotent; builds are cached
# under $BENCH_TOOLS (default /var/tmp/snap-bench-tools) and run one at a time
# (each takes both cores for minutes). Prints the binaries' paths at the end.
#
#   restic 0.14, borg 1.2   Debian packages (apt-get)
#   restic 0.18.1           go install (the module proxy's @latest is an old 0.10)
#   kopia                   built from its git repository at a pinned commit
#                           (the module proxy refuses kopia as a module):
#                           $KOPIA_GIT (a git dir holding the commit), else a
#                           clone of https://github.com/kopia/kopia
#   versitygw               scripts/deps.sh (the S3 tests' server)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
TOOLS=${BENCH_TOOLS:-/var/tmp/snap-bench-tools}
RESTIC_VERSION=v0.18.1
KOPIA_VERSION=0.23.1
KOPIA_COMMIT=72ec08fd8edb86c67ed27099bf1b955e1f308ffa # tag v0.23.1
KOPIA_GIT=${KOPIA_GIT:-/work/.mirror/kopia+kopia/repo}
mkdir -p "$TOOLS/bin"

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
if [ ${#need[@]} -gt 0 ]; then
	echo "tools: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

restic18=$TOOLS/bin/restic-${RESTIC_VERSION#v}
if [ ! -x "$restic18" ]; then
	echo "tools: building restic $RESTIC_VERSION (a few minutes, once)"
	tmp=$(mktemp -d "$TOOLS/restic.XXXXXX")
	GOBIN=$tmp nice -n 5 go install "github.com/restic/restic/cmd/restic@$RESTIC_VERSION"
	mv "$tmp/restic" "$restic18"
	rmdir "$tmp"
fi

kopia=$TOOLS/bin/kopia-${KOPIA_COMMIT:0:12}
if [ ! -x "$kopia" ]; then
	src=$TOOLS/src/kopia-${KOPIA_COMMIT:0:12}
	rm -rf "$src"
	mkdir -p "$src"
	if git --git-dir="$KOPIA_GIT" cat-file -e "$KOPIA_COMMIT^{commit}" 2>/dev/null; then
		git --git-dir="$KOPIA_GIT" archive "$KOPIA_COMMIT" | tar -x -C "$src"
	else
		echo "tools: cloning kopia (no $KOPIA_GIT holding $KOPIA_COMMIT)"
		git clone -q https://github.com/kopia/kopia "$src.git"
		git -C "$src.git" archive "$KOPIA_COMMIT" | tar -x -C "$src"
		rm -rf "$src.git"
	fi
	echo "tools: building kopia ${KOPIA_COMMIT:0:12} (a few minutes, once)"
	(cd "$src" && nice -n 5 go build -tags nohtmlui -o "$kopia.tmp" \
		-ldflags "-X github.com/kopia/kopia/repo.BuildVersion=$KOPIA_VERSION -X github.com/kopia/kopia/repo.BuildInfo=$KOPIA_COMMIT" .)
	mv "$kopia.tmp" "$kopia"
	rm -rf "$src"
fi

command -v versitygw >/dev/null || ./scripts/deps.sh

echo "tools: restic=$(command -v restic) borg=$(command -v borg) restic18=$restic18 kopia=$kopia versitygw=$(command -v versitygw)"
