# fish completion for hyp, the hyp client. Commands and flags come from `hyp help`, so the
# completion follows the installed version.
function __hyp_commands
    hyp help 2>&1 | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {name = $1; $1 = ""; sub(/^ +/, ""); print name "\t" $0}'
end
function __hyp_flags
    set -l cmd (commandline -opc)[2]
    hyp help $cmd 2>&1 | awk '/^  -[a-z]/ {sub(/^ +-/, ""); print $1}'
end
function __hyp_subs
    set -l cmd (commandline -opc)[2]
    hyp help $cmd 2>&1 | awk -v c=$cmd '$1 == "hyp" && $2 == c && $3 ~ /^[a-z]/ {print $3}' | sort -u
end
complete -c hyp -n "test (count (commandline -opc)) -eq 1" -f -a "(__hyp_commands)"
complete -c hyp -n "__fish_seen_subcommand_from help" -f -a "(__hyp_commands)"
complete -c hyp -n "test (count (commandline -opc)) -ge 2" -a "(__hyp_subs)"
complete -c hyp -n "test (count (commandline -opc)) -ge 2; and string match -q -- '-*' (commandline -ct)" -f -a "(__hyp_flags | sed 's/^/--/')"
