# bash completion for hyp, the hyp client. Commands and flags come from `hyp help`, so the
# completion follows the installed version.
_hyp() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmds
	cmds=$(hyp help 2>&1 | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
		return
	fi
	case $prev in
	--secret | -secret) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--scheme | -scheme) COMPREPLY=($(compgen -W "v2 hyp" -- "$cur")); return ;;
	esac
	if [ "${COMP_WORDS[1]}" = help ]; then
		COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
		return
	fi
	if [[ $cur == -* ]]; then
		local flags
		flags=$(hyp help "${COMP_WORDS[1]}" 2>&1 | awk '/^  -[a-z]/ {sub(/^ +-/, "--"); print $1}')
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	# A sub-verb (hyp helper install, hyp profile add, ...) if the command lists any.
	local subs
	subs=$(hyp help "${COMP_WORDS[1]}" 2>&1 | awk -v c="${COMP_WORDS[1]}" '$1 == "hyp" && $2 == c && $3 ~ /^[a-z]/ {print $3}' | sort -u)
	COMPREPLY=($(compgen -W "$subs" -- "$cur"))
}
complete -o default -F _hyp hyp
