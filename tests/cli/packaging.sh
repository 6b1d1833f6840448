#!/usr/bin/env bash
# tests/cli/packaging.sh — what `make install` adds for a user:
#   1. mosaik(1), generated at build time, is what `mosaik help --man`
#      prints now, mentions every command of `mosaik help --commands`, and
#      renders without groff warnings;
#   2. the bash completion loads in bash and completes command words (from
#      the binary) and options (from a command's --help);
#   3. mosaik.service, as packaging/install.cmake installs it for a prefix,
#      passes `systemd-analyze verify` (with its man page found), and its
#      ExecStart line with the installed node.conf is a valid node
#      configuration.
# Part 3 needs systemd-analyze: when it is missing it is installed (as root,
# with apt-get); only if it is still missing does the test skip (exit 77),
# after parts 1 and 2.
set -u
CLI=${MOSAIK_CLI:?MOSAIK_CLI must point to the mosaik binary}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$CLI")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# --- 1. the man page
MAN=$BUILD/mosaik.1
if [ ! -s "$MAN" ]; then
    fail "no $MAN (the build makes it: target mosaik_man)"
else
    "$CLI" help --man >"$TMP/now.1" || fail "mosaik help --man"
    cmp -s "$MAN" "$TMP/now.1" || fail "$MAN is not what 'mosaik help --man' prints now"
    sed 's/\\-/-/g' "$MAN" >"$TMP/plain"
    while IFS= read -r c; do
        grep -qF ".SS \"mosaik $c\"" "$TMP/plain" || fail "mosaik(1) has no section for 'mosaik $c'"
        grep -qF "usage: mosaik ${c%% *}" "$TMP/plain" || fail "mosaik(1) lacks the usage of '$c'"
    done < <("$CLI" help --commands)
    for s in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" ENVIRONMENT FILES "SEE ALSO"; do
        grep -qx ".SH $s" "$MAN" || fail "mosaik(1) has no $s section"
    done
    grep -q MOSAIK_LOG_FORMAT "$MAN" || fail "mosaik(1) does not document MOSAIK_LOG_FORMAT"
    if command -v groff >/dev/null; then
        groff -man -ww -z -Tutf8 "$MAN" >"$TMP/groff" 2>&1 || fail "groff failed on mosaik(1)"
        [ -s "$TMP/groff" ] && { fail "groff warns about mosaik(1)"; head -5 "$TMP/groff" >&2; }
    fi
fi

# --- 2. bash completion
complete_words() { # WORD... (the last one is being completed)
    bash --norc --noprofile -c '
        source "$1" || exit 9
        complete -p mosaik >/dev/null || exit 8
        shift
        COMP_WORDS=("$@")
        COMP_CWORD=$(( $# - 1 ))
        _mosaik
        printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC/completion/mosaik.bash" "$CLI" "$@"
}
want_completion() { # EXPECTED WORD...
    local want=$1
    shift
    complete_words "$@" >"$TMP/compl" 2>"$TMP/compl.err" || { fail "completion of '$*' failed: $(cat "$TMP/compl.err")"; return; }
    grep -qx -- "$want" "$TMP/compl" || fail "completion of '$*' lacks '$want' (got: $(tr '\n' ' ' <"$TMP/compl"))"
}
want_completion tdx td
want_completion node ""
want_completion verify tdx ver
want_completion fetch tdx collateral ""
want_completion --chain-only tdx verify --ch
want_completion --config node --con
want_completion --print-config node --print
want_completion --version --vers
want_completion issue jwt ""
touch "$TMP/quote-file.bin"
want_completion "$TMP/quote-file.bin" tdx verify "$TMP/quote-f"
[ "$(complete_words tdx verify "" 2>/dev/null | grep -cx inspect)" = 0 ] ||
    fail "completion offers command words after a complete command"

[ "$FAILS" -eq 0 ] || { echo "$FAILS check(s) failed" >&2; exit 1; }
echo "# man page and completion: ok"

# --- 3. the systemd unit
if ! command -v systemd-analyze >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# systemd-analyze missing: installing systemd"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd \
        >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd \
              >/dev/null 2>&1; }
fi
if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze is not installed (and could not be installed)"
    exit 77
fi
P=$TMP/prefix
mkdir -p "$P/bin" "$P/share/man/man1"
cp "$CLI" "$P/bin/mosaik"
cp "$MAN" "$P/share/man/man1/mosaik.1"
cmake -DCMAKE_INSTALL_PREFIX="$P" -DMOSAIK_PACKAGING_DIR="$SRC/packaging" \
    -DMOSAIK_BUILD_DIR="$TMP" -DMOSAIK_BINDIR=bin -P "$SRC/packaging/install.cmake" >/dev/null ||
    fail "packaging/install.cmake failed"
UNIT=$P/lib/systemd/system/mosaik.service
[ -s "$UNIT" ] || { fail "no $UNIT"; exit 1; }
grep -qx "ExecStart=$P/bin/mosaik node --config $P/etc/mosaik/node.conf" "$UNIT" ||
    fail "ExecStart does not name the prefix's binary and configuration: $(grep ExecStart "$UNIT")"
[ -s "$P/etc/mosaik/node.conf" ] || fail "no etc/mosaik/node.conf installed"
MANPATH=$P/share/man systemd-analyze verify "$UNIT" >"$TMP/verify" 2>&1 ||
    { fail "systemd-analyze verify mosaik.service"; cat "$TMP/verify" >&2; }
grep -q '^mosaik.service:\|mosaik.service:[0-9]' "$TMP/verify" &&
    { fail "systemd-analyze warns about mosaik.service"; cat "$TMP/verify" >&2; }
# The unit's command line, with the installed configuration, is valid.
exec_line=$(sed -n 's/^ExecStart=//p' "$UNIT")
# shellcheck disable=SC2086
$exec_line --print-config >"$TMP/conf.out" 2>&1 ||
    { fail "the unit's command line is refused: $exec_line"; cat "$TMP/conf.out" >&2; }
# Installing again keeps an edited configuration.
echo "# edited" >>"$P/etc/mosaik/node.conf"
cmake -DCMAKE_INSTALL_PREFIX="$P" -DMOSAIK_PACKAGING_DIR="$SRC/packaging" \
    -DMOSAIK_BUILD_DIR="$TMP" -DMOSAIK_BINDIR=bin -P "$SRC/packaging/install.cmake" >/dev/null
grep -q '^# edited' "$P/etc/mosaik/node.conf" || fail "a second install replaced an edited node.conf"

[ "$FAILS" -eq 0 ] || { echo "$FAILS check(s) failed" >&2; exit 1; }
echo "packaging: man page, completion and systemd unit ok"
