# bash completion for hyp, generated from its command table (hyp completion bash).
_hyp_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]:-}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "sequence knock connect profile site helper completion man version help --version --help" -- "$cur"))
		return
	fi
	case $cmd in
	profile)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "add list show remove export" -- "$cur"))
			return
		fi
		cmd="$cmd ${COMP_WORDS[2]}" ;;
	site)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "add list remove" -- "$cur"))
			return
		fi
		cmd="$cmd ${COMP_WORDS[2]}" ;;
	helper)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "install uninstall start stop restart status add remove list run live connect" -- "$cur"))
			return
		fi
		cmd="$cmd ${COMP_WORDS[2]}" ;;
	help) COMPREPLY=($(compgen -W "sequence knock connect profile site helper completion man version help" -- "$cur")); return ;;
	completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
	esac
	case "$cmd/$prev" in
	"sequence/--counter" | "sequence/-counter") COMPREPLY=(); return ;;
	"sequence/--realm" | "sequence/-realm") COMPREPLY=(); return ;;
	"sequence/--scheme" | "sequence/-scheme") COMPREPLY=($(compgen -W "v2 v3 hyp" -- "$cur")); return ;;
	"sequence/--secret" | "sequence/-secret") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"sequence/--time" | "sequence/-time") COMPREPLY=(); return ;;
	"knock/--check" | "knock/-check") COMPREPLY=(); return ;;
	"knock/--check-wait" | "knock/-check-wait") COMPREPLY=(); return ;;
	"knock/--gap" | "knock/-gap") COMPREPLY=(); return ;;
	"knock/--maxjitter" | "knock/-maxjitter") COMPREPLY=(); return ;;
	"knock/--realm" | "knock/-realm") COMPREPLY=(); return ;;
	"knock/--refresh" | "knock/-refresh") COMPREPLY=(); return ;;
	"knock/--refreshtime" | "knock/-refreshtime") COMPREPLY=(); return ;;
	"knock/--scheme" | "knock/-scheme") COMPREPLY=($(compgen -W "v2 v3 hyp" -- "$cur")); return ;;
	"knock/--secret" | "knock/-secret") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"knock/--uses" | "knock/-uses") COMPREPLY=(); return ;;
	"connect/--check" | "connect/-check") COMPREPLY=(); return ;;
	"connect/--check-wait" | "connect/-check-wait") COMPREPLY=(); return ;;
	"connect/--keepalive" | "connect/-keepalive") COMPREPLY=(); return ;;
	"connect/--realm" | "connect/-realm") COMPREPLY=(); return ;;
	"connect/--scheme" | "connect/-scheme") COMPREPLY=($(compgen -W "v2 v3 hyp" -- "$cur")); return ;;
	"connect/--secret" | "connect/-secret") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"connect/--site" | "connect/-site") COMPREPLY=(); return ;;
	"connect/--uses" | "connect/-uses") COMPREPLY=(); return ;;
	"profile add/--check" | "profile add/-check") COMPREPLY=(); return ;;
	"profile add/--gap" | "profile add/-gap") COMPREPLY=(); return ;;
	"profile add/--host" | "profile add/-host") COMPREPLY=(); return ;;
	"profile add/--keepalive" | "profile add/-keepalive") COMPREPLY=(); return ;;
	"profile add/--scheme" | "profile add/-scheme") COMPREPLY=($(compgen -W "v2 hyp" -- "$cur")); return ;;
	"profile add/--secret" | "profile add/-secret") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"profile add/--secret-file" | "profile add/-secret-file") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"profile add/--uses" | "profile add/-uses") COMPREPLY=(); return ;;
	"site add/--check" | "site add/-check") COMPREPLY=(); return ;;
	"site add/--first" | "site add/-first") COMPREPLY=(); return ;;
	"site add/--host" | "site add/-host") COMPREPLY=(); return ;;
	"site add/--realm" | "site add/-realm") COMPREPLY=(); return ;;
	"helper install/--dir" | "helper install/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper install/--name" | "helper install/-name") COMPREPLY=(); return ;;
	"helper uninstall/--dir" | "helper uninstall/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper uninstall/--name" | "helper uninstall/-name") COMPREPLY=(); return ;;
	"helper start/--dir" | "helper start/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper start/--name" | "helper start/-name") COMPREPLY=(); return ;;
	"helper stop/--dir" | "helper stop/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper stop/--name" | "helper stop/-name") COMPREPLY=(); return ;;
	"helper restart/--dir" | "helper restart/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper restart/--name" | "helper restart/-name") COMPREPLY=(); return ;;
	"helper status/--dir" | "helper status/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper status/--name" | "helper status/-name") COMPREPLY=(); return ;;
	"helper add/--dir" | "helper add/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper add/--socket" | "helper add/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"helper remove/--dir" | "helper remove/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper list/--dir" | "helper list/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper run/--dir" | "helper run/-dir") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"helper run/--name" | "helper run/-name") COMPREPLY=(); return ;;
	"helper run/--socket" | "helper run/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"helper live/--socket" | "helper live/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"helper connect/--socket" | "helper connect/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	esac
	case $cmd in
	"sequence")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--counter --realm --scheme --secret --time --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"knock")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--check --check-wait --gap --maxjitter --realm --refresh --refreshtime --scheme --secret --uses -v --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"connect")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--check --check-wait --keepalive --knock-only --realm --scheme --secret --site --uses --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"profile add")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--always-on --check --force --gap --host --keepalive --scheme --secret --secret-file --uses --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"profile list")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--json --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"profile show")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"profile remove")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"profile export")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--qr --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"site add")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--check --first --force --host --realm --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"site list")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else COMPREPLY=(); fi ;;
	"site remove")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper install")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper uninstall")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper start")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper stop")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper restart")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper status")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper add")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --force --no-command --socket --yes --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hyp __complete profiles 2>/dev/null); fi ;;
	"helper remove")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper list")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --json --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper run")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--dir --name --service --socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper live")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--json --socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"helper connect")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	esac
}
complete -F _hyp_complete hyp
