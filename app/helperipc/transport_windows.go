package helperipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/windows"
)

// DefaultAddress is the helper's named pipe.
const DefaultAddress = `\\.\pipe\hyp-helper`

// PipeSDDL is the pipe's ACL: SYSTEM and Administrators in full, users of
// interactive logons (the desktop, a console, RDP) read and write, and
// network logons denied first so the pipe is not reachable over SMB. It is
// protected (P) from inherited entries. The users' entry is 0x12019b:
// FILE_GENERIC_READ and FILE_GENERIC_WRITE without FILE_APPEND_DATA, which
// on a pipe is FILE_CREATE_PIPE_INSTANCE (GRGW included it: a user could add
// instances of the helper's pipe and race it for clients).
const PipeSDDL = "D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;0x12019b;;;IU)"

// DefaultServer is the helper's account: LocalSystem.
const DefaultServer = "S-1-5-18"

// checkServer makes sure the pipe was made by the account want (a SID),
// before the client writes anything: a user who created the pipe first (the
// helper stopped) is not the helper. It reads the owner of the pipe from the
// client's own handle (which its GENERIC_READ lets it do): Listen makes the
// helper's pipe owned by its account, LocalSystem, and nobody else can make
// an object owned by SYSTEM (an owner other than one's own user or owner
// groups takes SeRestorePrivilege, which standard users lack). Asking for
// the server process's token instead fails for every standard user: a
// SYSTEM process's token admits SYSTEM and Administrators only.
func checkServer(c net.Conn, want string) error {
	pc, ok := c.(*pipeConn)
	if !ok {
		return fmt.Errorf("not a named pipe connection (%T)", c)
	}
	sd, err := windows.GetSecurityInfo(pc.h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the owner of the pipe: %w", err)
	}
	return ownerIs(sd, want)
}

// ownerIs accepts a pipe's security descriptor whose owner is want (a SID).
// The error completes "the helper channel is not served by the helper
// service: PIPE: ".
func ownerIs(sd *windows.SECURITY_DESCRIPTOR, want string) error {
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("it is served by a pipe without an owner, not one made by %s", accountName(want))
	}
	if got := owner.String(); got != want {
		return fmt.Errorf("it is served by a pipe owned by %s, not by %s: another process made it (the helper service is not running?)", accountName(got), accountName(want))
	}
	return nil
}

// accountName is a SID with the name of the account it is when that is known.
func accountName(sid string) string {
	s, err := windows.StringToSid(sid)
	if err != nil {
		return sid
	}
	account, domain, _, err := s.LookupAccount("")
	if err != nil || account == "" {
		return sid
	}
	if domain != "" {
		account = domain + `\` + account
	}
	return fmt.Sprintf("%s (%s)", sid, account)
}

// ownedSDDL is sddl with the owner set to this process's account when it
// names none: the pipe's owner is what clients check (checkServer), and the
// token's default owner may be a group (Administrators) instead.
func ownedSDDL(sddl string) (string, error) {
	if strings.HasPrefix(sddl, "O:") {
		return sddl, nil
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("reading this process's account: %w", err)
	}
	return "O:" + u.User.Sid.String() + sddl, nil
}

// Config says where the helper listens.
type Config struct {
	Address string // "" => DefaultAddress
	// SDDL replaces PipeSDDL (tests); "" => PipeSDDL. Without an owner
	// (O:) the pipe is owned by this process's account.
	SDDL string
}

// Listen creates the pipe with its ACL. Whoever the ACL lets open it may list
// and connect; the peer's token decides who may hand profiles over.
func Listen(cfg Config) (*Listener, error) {
	addr := cfg.Address
	if addr == "" {
		addr = DefaultAddress
	}
	sddl := cfg.SDDL
	if sddl == "" {
		sddl = PipeSDDL
	}
	sddl, err := ownedSDDL(sddl)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	ln, err := listenPipe(addr, sddl)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return &Listener{Listener: ln, peer: pipePeer}, nil
}

// pipePeer finds the client's process from the pipe, and from its token
// whether it is an administrator with an elevated token (or SYSTEM).
func pipePeer(c net.Conn) (Peer, error) {
	fd, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return Peer{}, fmt.Errorf("not a named pipe connection (%T)", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(fd.Fd()), &pid); err != nil {
		return Peer{}, fmt.Errorf("finding the client's process: %w", err)
	}
	proc, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Peer{}, fmt.Errorf("opening the client's process %d: %w", pid, err)
	}
	defer windows.CloseHandle(proc)
	var tok windows.Token
	if err := windows.OpenProcessToken(proc, windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE, &tok); err != nil {
		return Peer{}, fmt.Errorf("reading the token of process %d: %w", pid, err)
	}
	defer tok.Close()
	p := Peer{ID: fmt.Sprintf("process %d", pid), Allowed: true}
	if u, err := tok.GetTokenUser(); err == nil {
		p.ID = fmt.Sprintf("%s (process %d)", u.User.Sid, pid)
		p.Key = u.User.Sid.String()
		system, _ := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
		if system != nil && u.User.Sid.Equals(system) {
			p.Admin = true
			return p, nil
		}
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return p, nil
	}
	// IsMember on a primary token counts only enabled groups: a filtered
	// (unelevated) administrator's Administrators group is deny-only.
	if member, err := tokenIsMember(tok, admins); err == nil && member && tok.IsElevated() {
		p.Admin = true
	}
	return p, nil
}

// tokenIsMember checks membership on an impersonation duplicate, as
// CheckTokenMembership requires.
func tokenIsMember(tok windows.Token, sid *windows.SID) (bool, error) {
	var dup windows.Token
	if err := windows.DuplicateTokenEx(tok, windows.TOKEN_QUERY, nil, windows.SecurityIdentification, windows.TokenImpersonation, &dup); err != nil {
		return false, err
	}
	defer dup.Close()
	return dup.IsMember(sid)
}

func dialTransport(ctx context.Context, address string) (net.Conn, error) {
	return dialPipe(ctx, address)
}

// isAbsent: no pipe of that name (the helper is not running).
func isAbsent(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND)
}

// whoMay says who the pipe admits, for a refused dial.
const whoMay = "interactive users and administrators may use it"
