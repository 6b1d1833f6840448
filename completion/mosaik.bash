# bash completion for mosaik(1).
#
# Installed as <prefix>/share/bash-completion/completions/mosaik (loaded on
# demand by bash-completion); or, by hand: source completion/mosaik.bash
#
# Nothing here lists commands or options: command words come from
# `mosaik help --commands`, a command's options from its --help text, both
# asked of the binary being completed (the command line's first word, so
# `./build/mosaik` works too after `complete -F _mosaik ./build/mosaik`).
# The completion therefore cannot drift from the tool. After a complete
# command, words that are not options complete as file names.

# The command list of binary $1, one command per line (cached per binary).
_mosaik_commands() {
    if [[ ${_mosaik_cmds_bin-} != "$1" ]]; then
        _mosaik_cmds=$("$1" help --commands 2>/dev/null)
        _mosaik_cmds_bin=$1
    fi
    printf '%s\n' "$_mosaik_cmds"
}

_mosaik() {
    local cur=${COMP_WORDS[COMP_CWORD]} bin=${COMP_WORDS[0]}
    [[ $bin == "~"* ]] && bin=${bin/#\~/$HOME}
    local cmds path="" cand line found next i
    cmds=$(_mosaik_commands "$bin")
    # The command so far: the longest run of words that starts a listed one.
    for ((i = 1; i < COMP_CWORD; i++)); do
        cand="${path:+$path }${COMP_WORDS[i]}"
        found=
        while IFS= read -r line; do
            if [[ $line == "$cand" || $line == "$cand "* ]]; then
                found=1
                break
            fi
        done <<<"$cmds"
        [[ -n $found ]] || break
        path=$cand
    done
    # The next command word, while the command is not complete.
    if [[ $cur != -* ]]; then
        local -A seen=()
        local words=()
        while IFS= read -r line; do
            [[ -n $line ]] || continue
            if [[ -z $path ]]; then
                next=${line%% *}
            elif [[ $line == "$path "* ]]; then
                next=${line#"$path "}
                next=${next%% *}
            else
                continue
            fi
            [[ -n ${seen[$next]-} ]] && continue
            seen[$next]=1
            words+=("$next")
        done <<<"$cmds"
        if ((${#words[@]})); then
            mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
            return 0
        fi
    fi
    # An option of the command, from its --help text.
    if [[ $cur == -* ]]; then
        local opts
        # shellcheck disable=SC2086  # the command's words
        opts=$("$bin" $path --help 2>/dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
        [[ -z $path ]] && opts+=$'\n-V\n--version\n--help'
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return 0
    fi
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return 0
}

complete -F _mosaik mosaik
