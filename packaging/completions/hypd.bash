# bash completion for hypd, the hyp gateway daemon.
_hypd() {
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local verbs="run check config secret generate status grants revoke-grant unprotect cleanup version help install uninstall start stop restart service-status service-unit"
	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
		return
	fi
	case $prev in
	--config | --exec) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--keys | --state) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--socket | --control) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--interface) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
	--scheme) COMPREPLY=($(compgen -W "v2 hyp" -- "$cur")); return ;;
	--log-level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
	esac
	local flags=""
	case ${words[1]} in
	run | check) flags="--config --interface --keys --services --public --open --scheme --state --stealth --skew --knock-timeout --log-level --control" ;;
	config) [ "$cword" -eq 2 ] && flags="default" ;;
	generate) [ "$cword" -eq 2 ] && flags="secret" ;;
	secret) if [ "$cword" -eq 2 ]; then flags="new"; else flags="--keys --host --services --scheme --force --qr"; fi ;;
	status | grants) flags="--json --socket" ;;
	revoke-grant | unprotect) flags="--socket" ;;
	cleanup) flags="--stop" ;;
	install) flags="--config" ;;
	uninstall) flags="--purge" ;;
	service-unit) flags="--exec --config --kernel" ;;
	help) flags=$verbs ;;
	esac
	COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -F _hypd hypd
