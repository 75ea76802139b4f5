# shellcheck shell=bash
# Stage: Windows. Proves the cgo tray app cross-builds with mingw (the same build as
# `make package`, so one of them hits a warm Go build cache), then runs the Windows programs
# under Debian's wine against a real gateway: hypd in a gateway network namespace, and wine
# (wineserver included: it creates the sockets of every wine process) in a client namespace.
# Under wine: the Windows-only unit tests (test binaries of app/internal/knocksock, app/helper and its
# store, perm and elevate, app/profiles), the knock vectors of core/testdata, `hyp.exe knock --check` opening a service
# hidden by hypd; hyp-tray.exe under Xvfb with a profile added by hyp.exe (Credential Manager),
# Knock & Connect clicked in its tray menu, opening the service and running the VPN command
# (screenshots into $HYP_ARTIFACTS, default dist/screenshots; docs/screenshots keeps copies);
# the helper service's life; the MSI (packaging/windows/msi.sh) installed and uninstalled.
# wine 8 has no bcryptprimitives.dll, which every Go >= 1.24 program loads at start-up, so the
# stage builds a one-function ProcessPrng stand-in (packaging/windows/processprng.c) into its
# own WINEPREFIX after showing that the .exe fails without it. Prints its duration.
# Sourced by .ci/test; runs in a subshell, and its trap stops wine, hypd and the namespaces.
(
	set -euo pipefail
	# What it runs is installed by .ci/test from HYP_TOOLS (.ci/lib.sh), before the first step.
	cd "$HYP_ROOT"
	# shellcheck source=../../packaging/windows/tray.sh
	. packaging/windows/tray.sh
	# shellcheck source=../../packaging/windows/msi.sh
	. packaging/windows/msi.sh
	work=$(mktemp -d)
	export WINEPREFIX=$work/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
	unset DISPLAY WAYLAND_DISPLAY
	gw=hypwin-gw-$$ cl=hypwin-cl-$$ vg=hwg$$ vc=hwc$$ gwaddr=10.77.45.1
	pids=()
	cleanup() {
		set +e
		wineserver -k 2>/dev/null
		local p
		for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
		ip netns del "$cl" 2>/dev/null
		ip netns del "$gw" 2>/dev/null
		ip link del "$vg" 2>/dev/null
		rm -rf "$work"
	}
	trap cleanup EXIT
	started=$SECONDS

	log "windows: cross-building the tray app (fyne package --os windows, mingw)"
	t=$SECONDS
	hyp_tray_package windows "$work/hyp-tray.exe"
	hyp_tray_check_exe "$work/hyp-tray.exe"
	log "windows: hyp-tray.exe $(($(stat -c %s "$work/hyp-tray.exe") / 1024)) KiB in $((SECONDS - t)) s"

	# Built here, not taken from dist/ (make cross), which may be older than the tree.
	exe=$work/hyp.exe
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath -o "$exe" ./app/cmd/hyp
	GOOS=windows GOARCH=amd64 go test -c -o "$work/knocksock.test.exe" ./app/internal/knocksock
	for pkg in helper helper/store helper/perm helper/elevate; do
		GOOS=windows GOARCH=amd64 go test -c -o "$work/${pkg//\//-}.test.exe" "./app/$pkg"
	done
	GOOS=windows GOARCH=amd64 go test -c -o "$work/profiles.test.exe" ./app/profiles
	CGO_ENABLED=0 go build -o "$work/hypd" ./daemon

	# The gateway: hypd on a veth in its own namespace hides tcp/2222 (socat) from the client
	# namespace, where wine runs.
	ip netns add "$gw"
	ip netns add "$cl"
	ip link add "$vg" type veth peer name "$vc"
	ip link set "$vg" netns "$gw"
	ip link set "$vc" netns "$cl"
	ip -n "$gw" addr add "$gwaddr/24" dev "$vg"
	ip -n "$cl" addr add 10.77.45.2/24 dev "$vc"
	for ns in "$gw:$vg" "$cl:$vc"; do
		ip -n "${ns%%:*}" link set "${ns#*:}" up
		ip -n "${ns%%:*}" link set lo up
	done
	ip netns exec "$gw" socat TCP-LISTEN:2222,fork,reuseaddr 'SYSTEM:echo hello from the hidden service' &
	pids+=($!)
	gwuri=$("$work/hypd" secret new laptop --keys "$work/keys" --host "$gwaddr" --check 2222)
	ip netns exec "$gw" "$work/hypd" run --interface "$vg" --keys "$work/keys" --services tcp/2222 \
		--open 30s --state "$work/state" --control "$work/hypd.sock" >"$work/hypd.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 150); do grep -q 'hypd running' "$work/hypd.log" && break; sleep 0.1; done
	grep -q 'hypd running' "$work/hypd.log" || { cat "$work/hypd.log" >&2; die "hypd did not start"; }
	# answers: does the hidden service answer the client namespace now?
	answers() {
		ip netns exec "$cl" socat -T2 - "TCP:$gwaddr:2222,connect-timeout=2" </dev/null 2>/dev/null |
			grep -q 'hello from the hidden service'
	}
	# revoke closes the client's grant, if it has one.
	revoke() { "$work/hypd" revoke-grant 10.77.45.2 --socket "$work/hypd.sock" >/dev/null 2>&1 || true; }

	t=$SECONDS
	# One wineserver for the whole test instead of one per run, in the client namespace: wine
	# processes get their sockets from it. Started first: a second `wineserver -p` fails while
	# wineboot's own server lingers. The trap stops it.
	W=(ip netns exec "$cl")
	boot_prefix() {
		mkdir -p "$WINEPREFIX"
		"${W[@]}" wineserver -p
		"${W[@]}" wineboot -i >"$work/wineboot.log" 2>&1
	}
	if ! boot_prefix; then
		# Seen once in about ten runs here: the prefix's first boot gives up early ("could not
		# load kernel32.dll, status c0000135") and leaves a prefix without its DLLs. That is wine's
		# setup, not hyp: a new prefix is booted once more, and a second failure fails the stage.
		log "windows: wineboot failed on a new prefix; booting another one:"
		tr -d '\r' <"$work/wineboot.log" >&2
		wineserver -k
		wineserver -w
		rm -rf "$WINEPREFIX"
		boot_prefix || { cat "$work/wineboot.log"; die "wineboot failed twice, on two new prefixes"; }
	fi
	# The first boot of a prefix leaves two services.exe behind, each with its own service
	# database, answering in turn (a service installed through one is missing in the other). A
	# restarted server starts one.
	wineserver -k
	wineserver -w
	"${W[@]}" wineserver -p
	log "windows: wineboot $((SECONDS - t)) s ($(wine --version))"

	sys32=$WINEPREFIX/drive_c/windows/system32
	if "${W[@]}" wine "$exe" version </dev/null >"$work/noshim.out" 2>&1; then
		log "windows: this wine has bcryptprimitives.dll (ProcessPrng): no shim needed"
	else
		grep -q 'bcryptprimitives.dll' "$work/noshim.out" || {
			cat "$work/noshim.out"
			die "hyp.exe fails under wine without the shim, but not for want of bcryptprimitives.dll"
		}
		log "windows: without the shim hyp.exe dies: $(grep -m1 bcryptprimitives "$work/noshim.out")"
		x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Wextra -Werror \
			-o "$sys32/bcryptprimitives.dll" packaging/windows/processprng.c -ladvapi32
	fi

	# The helper channel's named pipe (app/helperipc), with the prefix booted and shimmed.
	# shellcheck source=../../packaging/windows/helperipc.sh
	. packaging/windows/helperipc.sh
	hyp_wine_helperipc "$work"

	pass=0
	fail=0
	check() { # name expected-output command... : runs the command under wine, compares stdout
		local name=$1 want=$2 got rc=0
		shift 2
		got=$("${W[@]}" wine "$exe" "$@" </dev/null 2>"$work/stderr" | tr -d '\r') || rc=$?
		if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			printf 'FAIL %s: hyp.exe %s\n  want %s\n  got  %s (exit %s) %s\n' \
				"$name" "${*:1:$#-1} URI" "$want" "$got" "$rc" "$(cat "$work/stderr")" >&2
		fi
	}

	# One case a line: name, URI, unix time, counter ("-" for hyp, which has none), ports. No
	# empty fields: read would merge neighbouring tabs.
	jq -r '(input_filename | split("/") | last) as $file | .scheme as $scheme
		| .cases | to_entries[] | .key as $i | .value
		| [ "\($file) case \($i)",
		    "hyp://vectors.invalid?secret=\(.secret)&scheme=\($scheme)"
		      + ([["length", .length], ["step", .step], ["low", .low], ["high", .high]]
		         | map(select(.[1] != null) | "&\(.[0])=\(.[1])") | join("")),
		    .time, (.counter // "-"), (.ports | map(tostring) | join(" ")) ]
		| @tsv' core/testdata/knock-v2.json core/testdata/knock-hyp.json >"$work/cases.tsv"
	while IFS=$'\t' read -r name uri time counter ports; do
		if [ "$counter" != - ]; then
			check "$name" "$ports" sequence --time "$time" --counter "$counter" "$uri"
		else
			check "$name" "$ports" sequence --time "$time" "$uri"
		fi
	done <"$work/cases.tsv"
	[ $((pass + fail)) = "$(wc -l <"$work/cases.tsv")" ] || die "wine: the vector loop skipped cases"

	# version names the Windows build; a bad URI is a usage error: exit 2, naming the parameter.
	if "${W[@]}" wine "$exe" version </dev/null 2>&1 | tr -d '\r' | grep -q ' windows/amd64$'; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL version: %s\n' "$(wine "$exe" version </dev/null 2>&1)" >&2
	fi
	rc=0
	"${W[@]}" wine "$exe" sequence 'hyp://vectors.invalid?secret=not-base32!' </dev/null >"$work/bad.out" 2>&1 || rc=$?
	if [ "$rc" = 2 ] && grep -q 'parameter "secret"' "$work/bad.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL bad URI: exit %s, want 2 naming "secret": %s\n' "$rc" "$(cat "$work/bad.out")" >&2
	fi

	# The tray .exe cannot show its window here (no display), but --version proves wine loads it:
	# every DLL it imports (opengl32, gdi32, ...) resolves and the Go runtime starts.
	rc=0
	"${W[@]}" wine "$work/hyp-tray.exe" --version </dev/null >"$work/tray.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && grep -q '^hyp-tray .* windows/amd64' "$work/tray.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL hyp-tray.exe --version: exit %s: %s\n' "$rc" "$(cat "$work/tray.out")" >&2
	fi

	# pass/fail record a check that is not a run of hyp.exe.
	ok() { pass=$((pass + 1)); }
	bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$*" >&2; }

	# A Go test binary under wine, verbose: it passes when it exits 0, ran at least one test (a
	# -test.run pattern that matches nothing after a rename passes vacuously otherwise) and skipped
	# nothing (every need is provided here, so a skip would hide a failure, as --no-skip says).
	wine_tests() {
		local what=$1 out=$work/unit.out n
		shift
		if "${W[@]}" wine "$@" -test.count=1 -test.v </dev/null >"$out" 2>&1 && ! grep -q -- '--- SKIP' "$out" &&
			n=$(grep -c -- '--- PASS' "$out") && [ "$n" -gt 0 ]; then
			ok
			printf '%s under wine: %s passed (tests and subtests), 0 skipped\n' "$what" "$n"
		else
			bad "$what tests under wine: $(tr -d '\r' <"$out")"
		fi
	}

	# The knock socket's own tests (Winsock socket, bind, sendto, recvfrom, deadlines).
	wine_tests app/internal/knocksock "$work/knocksock.test.exe"

	# The helper's rooms (app/helper/...): the store's and the executable's checks (perm:
	# security descriptors built from SDDL: owner, allowing entries, missing or unprotected DACL;
	# links refused), DPAPI sealing in machine scope (store), the key-file check of an elevated
	# hyp helper add against the unelevated token, on the handle the key is read from (elevate);
	# the service status in words, its log refusing links and taken over from a user who made it
	# first, and the service machinery with a stand-in helper (the test binary) under
	# the service control manager: install, start once up, stop, uninstall of a running service
	# (its process gone), a helper failing as it starts (helper); the key-file ACL check of
	# --secret-file (profiles).
	for unit in "helper:Describe|Service" "helper/store:Seal" \
		"helper/perm:CheckDescriptor|Reparse|ExecutableDescriptor|AncestorMayLetUsersAddFolders" \
		"helper/elevate:DescriptorGrantsRead|ReadKeyFile" "profiles:ReadersBesidesOwner"; do
		pkg=${unit%%:*}
		wine_tests "app/$pkg" "$work/${pkg//\//-}.test.exe" -test.run "${unit#*:}"
	done

	# hyp.exe knock --check against hypd: closed before, open after, closed again once revoked.
	if answers; then bad "the service answered before any knock"; else ok; fi
	rc=0
	"${W[@]}" wine "$exe" knock --check tcp/2222 "$gwuri" </dev/null >"$work/knock.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && grep -q 'tcp/2222 on .* answered after' "$work/knock.out" && answers; then
		ok
	else
		bad "hyp.exe knock --check tcp/2222 (the gateway's URI): exit $rc: $(tr -d '\r' <"$work/knock.out")"
	fi
	revoke
	if answers; then bad "the service still answers after revoke-grant"; else ok; fi

	# The helper service's whole life, started from its explicit --service argument. wine keeps
	# no ACLs (GetNamedSecurityInfo reports the Unix owner and mode whatever was set), so the
	# store can never be private here: add is refused, and a started helper stops with that
	# error. Proved: the service mechanics, and that every refusal says why.
	t=$SECONDS
	# expect NAME WANT-EXIT PATTERN helper-args...: runs hyp.exe helper ARGS, checks exit and output.
	expect() {
		local name=$1 want=$2 pattern=$3 rc=0
		shift 3
		timeout 60 "${W[@]}" wine "$exe" helper "$@" </dev/null >"$work/helper.out" 2>&1 || rc=$?
		if [ "$rc" = "$want" ] && tr -d '\r' <"$work/helper.out" | grep -q -- "$pattern"; then
			ok
		else
			bad "helper $name: exit $rc (want $want, output matching '$pattern'): $(tr -d '\r' <"$work/helper.out")"
		fi
	}
	expect "status before install" 3 'not installed' status
	expect install 0 'install: done' install
	expect "status after install (registered, not started)" 1 'hyp-helper: stopped$' status
	expect "add on a store wine cannot make private" 1 'ProgramData' add office "$gwuri"
	expect "start: the helper fails on its store" 1 'stopped at once: stopped with an error' start
	expect "status says why it stopped" 1 'stopped with an error (helper exit code 1): .*ProgramData' status
	expect "list refuses the store" 1 'ProgramData' list
	expect "run in the foreground exits with the error" 1 'helper stopped' run
	expect "the service argument by hand" 1 'not by the service control manager' run --service
	expect stop 0 'stop: done' stop
	expect uninstall 0 'uninstall: done' uninstall
	expect "status after uninstall" 3 'not installed' status
	log "windows: helper service life $((SECONDS - t)) s"

	# The tray app under Xvfb: a profile added with hyp.exe (key in Credential Manager), then
	# "Knock & Connect" clicked in the tray menu as a person would: wine shows the icon in its own
	# tray window (there is no XEmbed tray here), a left click opens the Win32 menu, Down and
	# Return pick the first item. The VPN command (cmd.exe) leaves a file behind.
	t=$SECONDS
	display=:$((100 + RANDOM % 100))
	Xvfb "$display" -screen 0 1024x600x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
	vpnmark=$WINEPREFIX/drive_c/vpn-ran.txt
	rc=0
	printf '%s\n' "$gwuri" | "${W[@]}" wine "$exe" profile add office - --check tcp/2222 -- \
		cmd.exe /c echo up '>' 'C:\vpn-ran.txt' >"$work/add.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && grep -q 'in the OS keyring' "$work/add.out"; then
		ok
	else
		bad "hyp.exe profile add (Credential Manager): exit $rc: $(tr -d '\r' <"$work/add.out")"
	fi
	if answers; then bad "the service answered before the tray knocked"; else ok; fi
	# profile list writes the command in hyp's one command notation (app/command): one backslash.
	"${W[@]}" wine "$exe" profile list </dev/null 2>&1 | tr -d '\r' >"$work/list.out" || true
	if grep -qF 'C:\vpn-ran.txt' "$work/list.out" && ! grep -qF 'C:\\' "$work/list.out"; then ok; else bad "profile list: $(cat "$work/list.out")"; fi
	# A key file others may read is named by who may (its ACL; wine derives it from the mode).
	printf '%s\n' "${gwuri#*secret=}" | cut -d'&' -f1 >"$WINEPREFIX/drive_c/lab.key"
	chmod 644 "$WINEPREFIX/drive_c/lab.key"
	"${W[@]}" wine "$exe" profile add lab --host "$gwaddr" --secret-file 'C:\lab.key' </dev/null >"$work/lab.out" 2>&1 || true
	if tr -d '\r' <"$work/lab.out" | grep -q 'can be read by Everyone; icacls' && ! grep -q chmod "$work/lab.out"; then
		ok
	else
		bad "--secret-file on a file Everyone may read: $(tr -d '\r' <"$work/lab.out")"
	fi
	"${W[@]}" wine "$exe" profile remove lab </dev/null >/dev/null 2>&1 || true
	DISPLAY=$display "${W[@]}" wine "$work/hyp-tray.exe" >"$work/tray.log" 2>&1 &
	pids+=($!)
	systray=
	for _ in $(seq 300); do
		systray=$(DISPLAY=$display xdotool search --name '^Wine System Tray$' 2>/dev/null | head -n1) && [ -n "$systray" ] && break
		sleep 0.1
	done
	if [ -z "$systray" ]; then
		bad "hyp-tray.exe showed no tray icon within 30 s: $(tr -d '\r' <"$work/tray.log")"
	else
		# The icon draws a moment after its window maps: a click before then opens nothing.
		sleep 2
		DISPLAY=$display xdotool windowraise "$systray" mousemove --window "$systray" 10 10 click 1
		sleep 1
		DISPLAY=$display xdotool key Down Return
		for _ in $(seq 300); do [ -s "$vpnmark" ] && break; sleep 0.1; done
		if [ -s "$vpnmark" ] && answers; then
			ok
		else
			bad "tray Knock & Connect: VPN command ran: $([ -s "$vpnmark" ] && echo yes || echo no); service answers: $(answers && echo yes || echo no); tray log: $(tr -d '\r' <"$work/tray.log")"
		fi
		# The menu after connecting, for docs/screenshots.
		DISPLAY=$display xdotool windowraise "$systray" mousemove --window "$systray" 10 10 click 1
		sleep 1
		shots=${HYP_ARTIFACTS:-$HYP_ROOT/dist/screenshots}
		mkdir -p "$shots"
		DISPLAY=$display import -window root -crop 400x200+0+0 "$shots/windows-tray-menu.png"
		DISPLAY=$display xdotool key Escape
		# Manage profiles… (the third item: Down skips the separator) opens the window, which
		# shows where the tray logs (no console on Windows).
		DISPLAY=$display xdotool windowraise "$systray" mousemove --window "$systray" 10 10 click 1
		sleep 1
		DISPLAY=$display xdotool key Down Down Down Return
		trayw=
		for _ in $(seq 100); do
			trayw=$(DISPLAY=$display xdotool search --name '^hyp profiles$' 2>/dev/null | head -n1) && [ -n "$trayw" ] && break
			sleep 0.1
		done
		traylog=$WINEPREFIX/drive_c/users/$(id -un)/AppData/Local/hyp/hyp-tray.log
		if [ -n "$trayw" ] && [ -f "$traylog" ]; then
			ok
			sleep 2
			DISPLAY=$display import -window root -crop 830x600+0+0 "$shots/windows-profile-window.png"
		else
			bad "Manage profiles: window $([ -n "$trayw" ] && echo shown || echo missing), log file $traylog $([ -f "$traylog" ] && echo present || echo missing)"
		fi
		log "windows: tray Knock & Connect $((SECONDS - t)) s; screenshot $shots/windows-tray-menu.png"
	fi
	revoke

	# The MSI: built with wixl, installed with the optional start at logon, the CLI run from PATH,
	# the helper service registered but not started; then uninstalled, leaving nothing behind.
	t=$SECONDS
	mkdir -p "$work/msi"
	cp "$exe" "$work/msi/hyp.exe"
	cp "$work/hyp-tray.exe" "$work/msi/hyp-tray.exe"
	hyp_msi "$work/msi" 0.1.0 "$work/hyp.msi"
	msi=$(winepath -w "$work/hyp.msi")
	pf="$WINEPREFIX/drive_c/Program Files/hyp"
	runkey='HKLM\Software\Microsoft\Windows\CurrentVersion\Run'
	rc=0
	"${W[@]}" wine msiexec /i "$msi" /qn ADDLOCAL=Main,Autostart </dev/null >"$work/msi.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && [ -f "$pf/hyp.exe" ] && [ -f "$pf/hyp-tray.exe" ]; then ok; else bad "msiexec /i: exit $rc: $(ls "$pf" 2>&1) $(cat "$work/msi.out")"; fi
	if "${W[@]}" wine cmd /c hyp version </dev/null 2>&1 | tr -d '\r' | grep -q ' windows/amd64$'; then ok; else bad "hyp is not on PATH after the install"; fi
	rc=0
	"${W[@]}" wine cmd /c hyp helper status </dev/null >"$work/msihelper.out" 2>&1 || rc=$?
	if [ "$rc" = 1 ] && grep -q 'hyp-helper: stopped' "$work/msihelper.out"; then ok; else bad "the MSI's helper service: exit $rc: $(tr -d '\r' <"$work/msihelper.out")"; fi
	if "${W[@]}" wine reg query "$runkey" /v hyp-tray </dev/null 2>&1 | grep -q 'hyp-tray.exe'; then ok; else bad "no start at logon (Run key) after ADDLOCAL=Autostart"; fi
	if find "$WINEPREFIX/drive_c" -iname hyp.lnk | grep -q .; then ok; else bad "no Start-menu entry"; fi
	if "${W[@]}" wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s </dev/null 2>&1 | grep -q 'DisplayName.*hyp'; then ok; else bad "no uninstall entry"; fi
	rc=0
	"${W[@]}" wine msiexec /x "$msi" /qn </dev/null >"$work/msi.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && [ ! -e "$pf/hyp.exe" ] && [ ! -e "$pf/hyp-tray.exe" ]; then ok; else bad "msiexec /x: exit $rc: $(ls "$pf" 2>&1) $(cat "$work/msi.out")"; fi
	rc=0
	"${W[@]}" wine "$exe" helper status </dev/null >"$work/msihelper.out" 2>&1 || rc=$?
	if [ "$rc" = 3 ]; then ok; else bad "the helper service outlived the uninstall: exit $rc: $(tr -d '\r' <"$work/msihelper.out")"; fi
	if "${W[@]}" wine reg query "$runkey" /v hyp-tray </dev/null >/dev/null 2>&1; then bad "the Run key outlived the uninstall"; else ok; fi
	if "${W[@]}" wine reg query 'HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment' /v PATH </dev/null 2>&1 | grep -qi 'Program Files\\hyp'; then bad "PATH still names hyp after the uninstall"; else ok; fi
	log "windows: MSI $(($(stat -c %s "$work/hyp.msi") / 1024)) KiB built, installed and uninstalled in $((SECONDS - t)) s"

	log "wine: $pass passed, $fail failed (stage $((SECONDS - started)) s)"
	[ "$fail" = 0 ] || die "wine: $fail of $((pass + fail)) checks failed"
)
