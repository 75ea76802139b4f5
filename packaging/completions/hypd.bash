# bash completion for hypd, generated from its command table (hypd completion bash).
_hypd_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]:-}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "run check config secret status grants revoke-grant unprotect cleanup init install uninstall start stop restart reload service-status service-unit completion man version help --version --help" -- "$cur"))
		return
	fi
	case $cmd in
	config)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "default" -- "$cur"))
			return
		fi
		cmd="$cmd ${COMP_WORDS[2]}" ;;
	secret)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "new" -- "$cur"))
			return
		fi
		cmd="$cmd ${COMP_WORDS[2]}" ;;
	generate)
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=($(compgen -W "" -- "$cur"))
			return
		fi
		cmd="$cmd ${COMP_WORDS[2]}" ;;
	help) COMPREPLY=($(compgen -W "run check config secret status grants revoke-grant unprotect cleanup init install uninstall start stop restart reload service-status service-unit completion man version help" -- "$cur")); return ;;
	completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
	esac
	case "$cmd/$prev" in
	"run/--config" | "run/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"run/--interface" | "run/-interface") local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hypd __complete interfaces 2>/dev/null); return ;;
	"run/--keys" | "run/-keys") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"run/--knock-timeout" | "run/-knock-timeout") COMPREPLY=(); return ;;
	"run/--log-level" | "run/-log-level") COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
	"run/--open" | "run/-open") COMPREPLY=(); return ;;
	"run/--public" | "run/-public") COMPREPLY=(); return ;;
	"run/--scheme" | "run/-scheme") COMPREPLY=($(compgen -W "v2 hyp" -- "$cur")); return ;;
	"run/--services" | "run/-services") COMPREPLY=(); return ;;
	"run/--skew" | "run/-skew") COMPREPLY=(); return ;;
	"run/--socket" | "run/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"run/--state" | "run/-state") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"check/--config" | "check/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"check/--interface" | "check/-interface") local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hypd __complete interfaces 2>/dev/null); return ;;
	"check/--keys" | "check/-keys") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"check/--knock-timeout" | "check/-knock-timeout") COMPREPLY=(); return ;;
	"check/--log-level" | "check/-log-level") COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
	"check/--open" | "check/-open") COMPREPLY=(); return ;;
	"check/--public" | "check/-public") COMPREPLY=(); return ;;
	"check/--scheme" | "check/-scheme") COMPREPLY=($(compgen -W "v2 hyp" -- "$cur")); return ;;
	"check/--services" | "check/-services") COMPREPLY=(); return ;;
	"check/--skew" | "check/-skew") COMPREPLY=(); return ;;
	"check/--socket" | "check/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"check/--state" | "check/-state") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"secret new/--check" | "secret new/-check") COMPREPLY=(); return ;;
	"secret new/--config" | "secret new/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"secret new/--host" | "secret new/-host") COMPREPLY=(); return ;;
	"secret new/--keys" | "secret new/-keys") COMPREPLY=($(compgen -d -- "$cur")); return ;;
	"secret new/--realm" | "secret new/-realm") COMPREPLY=(); return ;;
	"secret new/--scheme" | "secret new/-scheme") COMPREPLY=($(compgen -W "v3 v2 hyp" -- "$cur")); return ;;
	"secret new/--services" | "secret new/-services") COMPREPLY=(); return ;;
	"status/--socket" | "status/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"grants/--socket" | "grants/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"revoke-grant/--socket" | "revoke-grant/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"unprotect/--socket" | "unprotect/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"init/--config" | "init/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"install/--config" | "install/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"start/--config" | "start/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"start/--log" | "start/-log") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"start/--socket" | "start/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"start/--wait" | "start/-wait") COMPREPLY=(); return ;;
	"stop/--socket" | "stop/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"restart/--config" | "restart/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"restart/--log" | "restart/-log") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"restart/--socket" | "restart/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"restart/--wait" | "restart/-wait") COMPREPLY=(); return ;;
	"reload/--socket" | "reload/-socket") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"service-unit/--config" | "service-unit/-config") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"service-unit/--exec" | "service-unit/-exec") COMPREPLY=($(compgen -f -- "$cur")); return ;;
	"service-unit/--kernel" | "service-unit/-kernel") COMPREPLY=(); return ;;
	esac
	case $cmd in
	"run")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --interface --keys --knock-timeout --log-level --open --public --scheme --services --skew --socket --state --stealth --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"check")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --interface --keys --knock-timeout --log-level --open --public --scheme --services --skew --socket --state --stealth --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"config default")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else COMPREPLY=(); fi ;;
	"secret new")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--check --config --force --host --keys --no-check --qr --realm --scheme --services --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hypd __complete keys 2>/dev/null); fi ;;
	"generate secret")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else COMPREPLY=(); fi ;;
	"status")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--json --socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"grants")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--json --socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"revoke-grant")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--socket --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hypd __complete grants 2>/dev/null); fi ;;
	"unprotect")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--socket --help" -- "$cur")); else local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(hypd __complete services 2>/dev/null); fi ;;
	"cleanup")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--stop --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"init")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"install")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"uninstall")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--purge --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"start")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --log --socket --wait --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"stop")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"restart")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --log --socket --wait --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"reload")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--socket --help" -- "$cur")); else COMPREPLY=(); fi ;;
	"service-status")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--help" -- "$cur")); else COMPREPLY=(); fi ;;
	"service-unit")
		if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "--config --exec --kernel --help" -- "$cur")); else COMPREPLY=(); fi ;;
	esac
}
complete -F _hypd_complete hypd
