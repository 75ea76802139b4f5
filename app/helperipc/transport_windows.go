package helperipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

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

// checkServer makes sure the pipe's server process runs as the account
// want (a SID), before the client writes anything: a user who created the
// pipe first (the helper stopped) is not the helper.
func checkServer(c net.Conn, want string) error {
	pc, ok := c.(*pipeConn)
	if !ok {
		return fmt.Errorf("not a named pipe connection (%T)", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(pc.h, &pid); err != nil {
		return fmt.Errorf("finding the server's process: %w", err)
	}
	sid, err := processUser(pid)
	if err != nil {
		return err
	}
	if sid.String() != want {
		return fmt.Errorf("it is served by %s (process %d), not by %s", sid, pid, want)
	}
	return nil
}

// processUser is the account a process runs as.
func processUser(pid uint32) (*windows.SID, error) {
	proc, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return nil, fmt.Errorf("opening process %d: %w", pid, err)
	}
	defer windows.CloseHandle(proc)
	var tok windows.Token
	if err := windows.OpenProcessToken(proc, windows.TOKEN_QUERY, &tok); err != nil {
		return nil, fmt.Errorf("reading the token of process %d: %w", pid, err)
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("reading the user of process %d: %w", pid, err)
	}
	return u.User.Sid.Copy()
}

// Config says where the helper listens.
type Config struct {
	Address string // "" => DefaultAddress
	// SDDL replaces PipeSDDL (tests); "" => PipeSDDL.
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
