#!/usr/bin/env bash
# Mutation testing of the model: applies each mutant of mutants.txt to a
# copy of the repository (never to the repository itself), builds it and
# runs the tests that should kill it.  Reports, per mutant, KILLED (by
# which tests) or SURVIVED; exits 1 if any survived, 2 if the run could not
# be made (a pattern not found exactly once, a mutant that does not
# compile, tests that fail without any mutant), 0 if every mutant died.
#
#   bench/mutants/run.sh [--full] [--check] [--list FILE] [NAME...]
#
#   NAME...      only these mutants (default: all of the list)
#   --full       run the whole test suite (`cargo test --profile checked
#                --no-fail-fast`) on each mutant instead of its `quick`
#                tests, and tell tests/mutants.rs apart from the rest
#   --check      only check that every pattern is found exactly once; no build
#   --list FILE  another mutant list (default: mutants.txt next to this script)
#
# Environment: CARGO_TARGET_DIR (default $TMPDIR/shootdown-mutants/target),
# MUTANTS_WORK (the copies; default $TMPDIR/shootdown-mutants),
# MUTANTS_SOURCE (the tree to copy; default this repository's work tree,
# tracked and untracked-but-not-ignored files as they are on disk).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_root=${MUTANTS_SOURCE:-$(cd "$here/../.." && pwd)}
list=$here/mutants.txt
full=0
check_only=0
selected=()
while (($#)); do
    case $1 in
        --full) full=1 ;;
        --check) check_only=1 ;;
        --list) list=$2; shift ;;
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) selected+=("$1") ;;
    esac
    shift
done

die() { echo "run.sh: $*" >&2; exit 2; }

# The work directory.  --check uses a private one and removes it; a run
# holds a lock on its work directory, so that a second run (or a --check
# of an older version of this script) cannot delete the tree under it.
tmp=${TMPDIR:-/tmp}
if ((check_only)); then
    work=$(mktemp -d "$tmp/shootdown-mutants-check.XXXXXX")
    trap 'rm -rf "$work"' EXIT
else
    work=${MUTANTS_WORK:-$tmp/shootdown-mutants}
    mkdir -p "$work"
    exec 9>"$work/lock"
    flock -n 9 || die "another run.sh is running in $work (set MUTANTS_WORK to run beside it)"
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$work/target}
pristine=$work/pristine
tree=$work/tree
logs=$work/logs

# ----- the list -----------------------------------------------------------------
# Parsed into parallel arrays: per mutant its name, why, quick runs
# (separated by newlines) and the index range of its replacements.
names=(); whys=(); quicks=(); first_edit=(); edit_count=()
edit_file=(); edit_old=(); edit_new=()

parse_list() {
    [[ -f $list ]] || die "no mutant list at $list"
    local line n=0 state=out cur=-1 file="" old="" new=""
    while IFS= read -r line || [[ -n $line ]]; do
        n=$((n + 1))
        case $state in
            old)
                if [[ $line == "====" ]]; then state=new; else old+=$line$'\n'; fi
                continue ;;
            new)
                if [[ $line == ">>>>" ]]; then
                    [[ -n $old ]] || die "$list:$n: empty pattern"
                    edit_file+=("$file"); edit_old+=("${old%$'\n'}"); edit_new+=("${new%$'\n'}")
                    edit_count[cur]=$((edit_count[cur] + 1))
                    state=in
                else
                    new+=$line$'\n'
                fi
                continue ;;
        esac
        [[ -z $line || $line == \#* ]] && continue
        local key=${line%% *} rest=""
        [[ $line == *" "* ]] && rest=${line#* }
        case $state:$key in
            out:mutant)
                [[ $rest =~ ^[a-z0-9_]+$ ]] || die "$list:$n: bad mutant name '$rest'"
                local existing
                for existing in "${names[@]}"; do
                    [[ $existing != "$rest" ]] || die "$list:$n: mutant $rest twice"
                done
                cur=${#names[@]}
                names+=("$rest"); whys+=(""); quicks+=("")
                first_edit+=("${#edit_file[@]}"); edit_count+=(0)
                file=""; state=in ;;
            in:why) whys[cur]=$rest ;;
            in:quick) quicks[cur]+=$rest$'\n' ;;
            in:file) file=$rest ;;
            in:"<<<<")
                [[ -n $file ]] || die "$list:$n: <<<< before any 'file'"
                old=""; new=""; state=old ;;
            in:end)
                ((edit_count[cur] > 0)) || die "$list:$n: mutant ${names[cur]} changes nothing"
                [[ -n ${quicks[cur]} ]] || quicks[cur]=$'--test mutants\n'
                state=out ;;
            *) die "$list:$n: unexpected '$line'" ;;
        esac
    done < "$list"
    [[ $state == out ]] || die "$list: ends inside a mutant"
}

parse_list
if ((${#selected[@]} == 0)); then
    selected=("${names[@]}")
fi
index_of() {
    local i
    for i in "${!names[@]}"; do
        [[ ${names[i]} == "$1" ]] && { echo "$i"; return 0; }
    done
    return 1
}
chosen=()
for s in "${selected[@]}"; do
    i=$(index_of "$s") || die "no mutant named $s in $list (known: ${names[*]})"
    chosen+=("$i")
done

# ----- the copies -----------------------------------------------------------------
# pristine: a snapshot of the source taken once, so that edits made to the
# repository during the run do not leak into it.  tree: where mutants are
# applied; its files get fresh mtimes so that cargo never trusts a build of
# an earlier mutant.
snapshot() {
    rm -rf "$pristine" "$tree"
    mkdir -p "$pristine" "$logs"
    git -C "$source_root" rev-parse --show-toplevel >/dev/null 2>&1 \
        || die "$source_root is not a git work tree (set MUTANTS_SOURCE)"
    (cd "$source_root" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf -) | tar -C "$pristine" -xf -
    cp -r "$pristine" "$tree"
}

# Prints how often `needle` occurs in `hay` (0, 1 or 2 meaning "more").
occurrences() {
    local hay=$1 needle=$2 rest
    rest=${hay#*"$needle"}
    [[ $rest == "$hay" ]] && { echo 0; return; }
    [[ ${rest#*"$needle"} == "$rest" ]] && { echo 1; return; }
    echo 2
}

# Checks that every replacement of mutant $1 applies to the pristine tree.
check_patterns() {
    local m=$1 e ok=1 content count
    for ((e = first_edit[m]; e < first_edit[m] + edit_count[m]; e++)); do
        local f=$pristine/${edit_file[e]}
        if [[ ! -f $f ]]; then
            echo "  ${names[m]}: ${edit_file[e]} does not exist" >&2; ok=0; continue
        fi
        IFS= read -r -d '' content < "$f" || true
        count=$(occurrences "$content" "${edit_old[e]}")
        if [[ $count != 1 ]]; then
            [[ $count == 0 ]] && count="not found" || count="found more than once"
            printf '  %s: pattern %s in %s:\n%s\n' "${names[m]}" "$count" "${edit_file[e]}" \
                "$(sed 's/^/      | /' <<<"${edit_old[e]}")" >&2
            ok=0
        fi
    done
    ((ok))
}

# Applies mutant $1 to the tree (every replacement, each exactly once).
apply() {
    local m=$1 e content
    for ((e = first_edit[m]; e < first_edit[m] + edit_count[m]; e++)); do
        local f=$tree/${edit_file[e]}
        IFS= read -r -d '' content < "$f" || true
        printf '%s' "${content/"${edit_old[e]}"/"${edit_new[e]}"}" > "$f"
    done
}

# Puts back the files mutant $1 edited (with a new mtime).
restore() {
    local m=$1 e
    for ((e = first_edit[m]; e < first_edit[m] + edit_count[m]; e++)); do
        cp "$pristine/${edit_file[e]}" "$tree/${edit_file[e]}"
    done
}

# ----- running tests ------------------------------------------------------------------
# `failures LOG`: the failed tests of a cargo test log, one per line, as
# `TARGET::TEST` (TARGET as cargo's "Running" line names it, e.g.
# tests/mutants.rs), plus `TARGET (crashed)` for a test binary that failed
# without naming a test.
failures() {
    awk '
        /^ *Running / { target = $2; if (target == "unittests") target = $2 " " $3; next }
        /^ *Doc-tests / { target = "doctests " $2; next }
        /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); print target "::" $0; failed[target] = 1; next }
        /^error: test failed, to rerun pass/ { if (!(target in failed)) print target " (crashed)" }
    ' "$1" | sort -u
}

cargo_test() { cargo test --profile checked --locked "$@"; }

# `run_tests LOG ARGS...`: builds, then runs; returns 3 if the build failed.
run_tests() {
    local log=$1; shift
    if ! cargo_test --no-run "$@" >"$log" 2>&1; then
        return 3
    fi
    cargo_test --no-fail-fast "$@" >>"$log" 2>&1
}

# How many tests a cargo test log says passed.
passed() {
    awk '/^test result: / { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$1"
}

# The quick runs of mutant $1, one per line.
quick_runs() { printf '%s' "${quicks[$1]}"; }

# ----- main ---------------------------------------------------------------------------------
start=$SECONDS
echo "mutants: ${#chosen[@]} of ${#names[@]} from ${list#"$source_root"/}"
echo "source:  $source_root (snapshot in $work)"
snapshot
bad=0
for m in "${chosen[@]}"; do
    check_patterns "$m" || bad=1
done
if ((bad)); then
    die "some patterns do not apply: the code moved; update ${list#"$source_root"/}"
fi
echo "patterns: every replacement found exactly once"
((check_only)) && exit 0

cd "$tree"
echo "target:  $CARGO_TARGET_DIR"

# Baseline: the tests must pass without any mutant (in --full mode, the
# suite's failures without a mutant are recorded and then ignored).
baseline_failures=""
t0=$SECONDS
if ((full)); then
    echo "baseline: the whole suite, unmutated ..."
    rc=0; run_tests "$logs/baseline.log" || rc=$?
    ((rc == 3)) && die "the unmutated tree does not build: $logs/baseline.log"
    baseline_failures=$(failures "$logs/baseline.log")
    if [[ -n $baseline_failures ]]; then
        echo "baseline: these fail without any mutant and are ignored below:"
        sed 's/^/    /' <<<"$baseline_failures"
    fi
else
    declare -A seen=()
    for m in "${chosen[@]}"; do
        while IFS= read -r args; do
            [[ -n $args && -z ${seen[$args]:-} ]] || continue
            seen[$args]=1
            echo "baseline: cargo test $args, unmutated ..."
            rc=0
            # shellcheck disable=SC2086 # the arguments are words
            run_tests "$logs/baseline.log" $args || rc=$?
            ((rc == 3)) && die "the unmutated tree does not build: $logs/baseline.log"
            ((rc == 0)) || die "cargo test $args fails without any mutant: $logs/baseline.log"
            (($(passed "$logs/baseline.log") > 0)) \
                || die "cargo test $args runs no test (renamed?): $logs/baseline.log"
        done < <(quick_runs "$m")
    done
fi
echo "baseline: ok ($((SECONDS - t0)) s)"
echo

survived=()
broken=()
for m in "${chosen[@]}"; do
    name=${names[m]}
    log=$logs/$name.log
    : >"$log"
    t0=$SECONDS
    apply "$m"
    rc=0
    killers=""
    if ((full)); then
        run_tests "$log" || rc=$?
        ((rc == 3)) || killers=$(failures "$log")
        if [[ -n $baseline_failures && -n $killers ]]; then
            killers=$(grep -vxF -f <(printf '%s\n' "$baseline_failures") <<<"$killers" || true)
        fi
    else
        while IFS= read -r args; do
            [[ -n $args ]] || continue
            echo "=== cargo test $args" >>"$log"
            one=0
            # shellcheck disable=SC2086
            run_tests "$log.part" $args || one=$?
            cat "$log.part" >>"$log"; rm -f "$log.part"
            if ((one == 3)); then rc=3; break; fi
            if ((one != 0)); then
                found=$(failures "$log")
                killers=${found:-"cargo test $args (failed; see the log)"}
            fi
        done < <(quick_runs "$m")
        [[ -z $killers ]] || killers=$(sort -u <<<"$killers")
    fi
    restore "$m"
    took=$((SECONDS - t0))
    if ((rc == 3)); then
        printf '%-36s DOES NOT COMPILE (%d s): see %s\n' "$name" "$took" "$log"
        broken+=("$name")
    elif [[ -n $killers ]]; then
        ours=$(grep -c '^tests/mutants.rs' <<<"$killers" || true)
        others=$(grep -vc '^tests/mutants.rs' <<<"$killers" || true)
        printf '%-36s killed (%d s) by %d test(s)' "$name" "$took" "$((ours + others))"
        ((full)) && printf ': %d in tests/mutants.rs, %d elsewhere' "$ours" "$others"
        printf '\n'
        sed 's/^/    /' <<<"$killers"
    else
        printf '%-36s SURVIVED (%d s): %s\n' "$name" "$took" "${whys[m]}"
        survived+=("$name")
    fi
done

echo
echo "done in $((SECONDS - start)) s; logs in $logs"
if ((${#broken[@]})); then
    echo "mutants that do not compile (fix mutants.txt): ${broken[*]}"
    exit 2
fi
if ((${#survived[@]})); then
    echo "SURVIVED: ${survived[*]}"
    exit 1
fi
echo "every mutant was killed"
