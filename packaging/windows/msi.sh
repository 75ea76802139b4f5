# shellcheck shell=bash
# hyp_msi BINDIR VERSION OUT builds the Windows installer from packaging/windows/hyp.wxs with
# wixl (Debian's msitools): BINDIR holds hyp.exe (the CLI) and hyp-tray.exe (the tray app).
# Sourced by .ci/stages/45-windows.sh, which installs and uninstalls it under wine; not part of
# `make`, whose fast path builds no Windows GUI program.
#
# wixl has no Environment element, so the PATH entry (the MSI Environment table: "=-*PATH" is
# set at install, removed at uninstall, machine-wide; "[~];" appends to what is there) and the
# two standard actions that apply it are added to the built database with msibuild. So is the
# ACL of ProgramData\hyp (the helper's store and log): wixl has no Permission element, and the
# MsiLockPermissionsEx row (Windows Installer 5) makes CreateFolders create the folder owned by
# SYSTEM, with SYSTEM and Administrators alone let in and nothing inherited from ProgramData,
# whose entries let every user create folders there.
#
# Needs lib.sh's die and HYP_ROOT.
hyp_msi() {
	local bindir=$1 version=$2 out=$3 f
	case $out in /*) ;; *) out=$PWD/$out ;; esac
	for f in hyp.exe hyp-tray.exe; do
		[ -f "$bindir/$f" ] || die "hyp_msi: $bindir/$f is missing"
	done
	# wixl takes a File's Source relative to the .wxs: build next to the executables.
	cp "$HYP_ROOT/packaging/windows/hyp.wxs" "$bindir/hyp.wxs"
	(cd "$bindir" && wixl -a x64 -D Version="$version" -o "$out" hyp.wxs) ||
		die "wixl failed to build $out"
	rm -f "$bindir/hyp.wxs"
	msibuild "$out" \
		-q 'CREATE TABLE `Environment` (`Environment` CHAR(72) NOT NULL, `Name` CHAR(255) NOT NULL LOCALIZABLE, `Value` CHAR(255) LOCALIZABLE, `Component_` CHAR(72) NOT NULL PRIMARY KEY `Environment`)' \
		-q "INSERT INTO \`Environment\` (\`Environment\`, \`Name\`, \`Value\`, \`Component_\`) VALUES ('Path', '=-*PATH', '[~];[INSTALLDIR]', 'CLI')" \
		-q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Sequence\`) VALUES ('RemoveEnvironmentStrings', 3300)" \
		-q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Sequence\`) VALUES ('WriteEnvironmentStrings', 5200)" ||
		die "msibuild could not add the PATH entry to $out"
	msibuild "$out" \
		-q 'CREATE TABLE `MsiLockPermissionsEx` (`MsiLockPermissionsEx` CHAR(72) NOT NULL, `LockObject` CHAR(72) NOT NULL, `Table` CHAR(32) NOT NULL, `SDDLText` LONGCHAR NOT NULL, `Condition` CHAR(255) PRIMARY KEY `MsiLockPermissionsEx`)' \
		-q "INSERT INTO \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\`, \`LockObject\`, \`Table\`, \`SDDLText\`) VALUES ('HelperDataACL', 'HYPDATA', 'CreateFolder', 'O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)')" ||
		die "msibuild could not add the ACL of ProgramData\\hyp to $out"
}
