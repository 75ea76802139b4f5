# fish completion for hypd, the hyp gateway daemon.
set -l verbs run check config secret generate status grants revoke-grant unprotect cleanup version help install uninstall start stop restart service-status service-unit
complete -c hypd -f
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a run -d 'run the gateway in the foreground'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a check -d 'validate the configuration and the keys'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a config -d 'print the default configuration (config default)'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a secret -d 'make a key (secret new NAME)'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a status -d 'show keys, grants, counters, interfaces'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a grants -d 'list active grants'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a revoke-grant -d 'close every grant of an address now'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a unprotect -d 'stop hiding a service nothing names any more'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a cleanup -d 'delete the nftables table (unhides)'
complete -c hypd -n "__fish_seen_subcommand_from cleanup" -l stop -d 'stop the running hypd first'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a version -d 'print the version'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a help -d 'list the commands'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a install -d 'install hypd as a system service'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a uninstall -d 'stop and remove the service'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a start -d 'start the service'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a stop -d 'stop the service (services stay hidden)'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a restart -d 'restart the service'
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a service-status -d "the service manager's state of hypd"
complete -c hypd -n "not __fish_seen_subcommand_from $verbs" -a service-unit -d 'print the hardened systemd unit'

complete -c hypd -n "__fish_seen_subcommand_from config" -a default
complete -c hypd -n "__fish_seen_subcommand_from generate" -a secret
complete -c hypd -n "__fish_seen_subcommand_from secret; and not __fish_seen_subcommand_from new" -a new

complete -c hypd -n "__fish_seen_subcommand_from run check install service-unit" -l config -r -F -d 'TOML config file'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l interface -x -a '(ls /sys/class/net)' -d 'interface to watch for knocks'
complete -c hypd -n "__fish_seen_subcommand_from run check secret" -l keys -x -a '(__fish_complete_directories)' -d 'key directory'
complete -c hypd -n "__fish_seen_subcommand_from run check secret" -l services -x -d 'services, e.g. tcp/22,udp/51820'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l public -x -d 'with --stealth: services open to everyone'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l open -x -d 'how long a knock opens the services'
complete -c hypd -n "__fish_seen_subcommand_from run check secret" -l scheme -x -a 'v2 hyp' -d 'knock scheme'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l state -x -a '(__fish_complete_directories)' -d 'spent-knock state directory'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l stealth -d 'drop unsolicited connection attempts to every port'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l skew -x -d 'time steps accepted either side of now'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l knock-timeout -x -d 'how long a whole knock may take'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l log-level -x -a 'debug info warn error'
complete -c hypd -n "__fish_seen_subcommand_from run check" -l control -r -F -d 'control socket path'
complete -c hypd -n "__fish_seen_subcommand_from secret" -l host -x -a '(__fish_print_hostnames)' -d 'the gateway as agents reach it'
complete -c hypd -n "__fish_seen_subcommand_from secret" -l force -d 'overwrite an existing key'
complete -c hypd -n "__fish_seen_subcommand_from secret" -l qr -d 'draw the URI as a QR code'
complete -c hypd -n "__fish_seen_subcommand_from status grants" -l json -d 'print JSON'
complete -c hypd -n "__fish_seen_subcommand_from status grants revoke-grant unprotect" -l socket -r -F -d 'control socket'
complete -c hypd -n "__fish_seen_subcommand_from uninstall" -l purge -d 'also delete the nftables table and the spent state'
complete -c hypd -n "__fish_seen_subcommand_from service-unit" -l exec -r -F -d 'hypd path in the unit'
complete -c hypd -n "__fish_seen_subcommand_from service-unit" -l kernel -x -d 'kernel release'
