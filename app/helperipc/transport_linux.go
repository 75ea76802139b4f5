package helperipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultAddress is the helper's socket. /run is root's and cleared at boot,
// so no stale socket survives a reboot and no user can plant one there. It
// is not under /run/hyp: hypd keeps that directory 0750, which would shut
// the group out on a machine that runs both.
const DefaultAddress = "/run/hyp-helper.sock"

// DefaultGroup is the group whose members may use the helper (list its
// profiles, ask it to knock). Root may always, and is the only one that may
// hand a profile over.
const DefaultGroup = "hyp"

// Config says where and for whom the helper listens.
type Config struct {
	Address string // "" => DefaultAddress
	// Group names the group whose members are allowed; "" => DefaultGroup.
	// A group that does not exist admits nobody but root (and UIDs).
	Group string
	// UIDs are further users allowed (tests; a machine without the group).
	UIDs []int
	// Mode of the socket file; 0 => 0660 (root and the group). The peer
	// check below is the real gate; the mode is the first fence.
	Mode fs.FileMode
}

// Listen makes the socket: its directory if missing (root's, 0755), the
// socket owned by root and the group, and a peer check on every connection.
// A stale socket left by a crashed helper is replaced; a live one (another
// helper serving) is an error.
func Listen(cfg Config) (*Listener, error) {
	path := cfg.Address
	if path == "" {
		path = DefaultAddress
	}
	group := cfg.Group
	if group == "" {
		group = DefaultGroup
	}
	gid := -1
	if g, err := user.LookupGroup(group); err == nil {
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("group %s has gid %q", group, g.Gid)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("making the helper's socket directory: %w", err)
	}
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	mode := cfg.Mode
	if mode == 0 {
		mode = 0o660
	}
	if gid >= 0 {
		err = os.Chown(path, 0, gid)
	}
	if err == nil {
		err = os.Chmod(path, mode)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("securing %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return &Listener{Listener: ln, peer: func(c net.Conn) (Peer, error) {
		return unixPeer(c, group, gid, cfg.UIDs)
	}}, nil
}

// checkSocketDir refuses a socket directory someone besides this process's
// user could change: the helper (root) removes a stale socket there and
// chowns and chmods the new one by name, which a user who can rename entries
// there could point at a file of their choice (chmod 0660 root:hyp
// /etc/shadow).
func checkSocketDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking the socket directory: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("the socket directory %s is not a directory (a link?)", dir)
	case ok && int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("the socket directory %s is owned by uid %d, not by this process (uid %d): the helper's socket must be where only it can change entries (the default %s is)", dir, sys.Uid, os.Geteuid(), DefaultAddress)
	case st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
		return fmt.Errorf("the socket directory %s is writable by others (%v): the helper's socket must be where only it can change entries (the default %s is)", dir, st.Mode(), DefaultAddress)
	}
	return nil
}

// removeStale deletes a socket at path that nobody answers on.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: remove it if nothing needs it", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("another helper already serves %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing the stale socket %s: %w", path, err)
	}
	return nil
}

// DefaultServer is the helper's account: root.
const DefaultServer = "0"

// checkServer makes sure the socket's server runs as uid want (SO_PEERCRED
// on the client's side: the server's credentials when it listened).
func checkServer(c net.Conn, want string) error {
	cred, err := peerCred(c)
	if err != nil {
		return err
	}
	if got := strconv.Itoa(int(cred.Uid)); got != want {
		return fmt.Errorf("it is served by uid %s (process %d), not uid %s", got, cred.Pid, want)
	}
	return nil
}

// peerCred is the other end's credentials, from the kernel.
func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a unix socket connection (%T)", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("reading the peer's credentials: %w", cerr)
	}
	return cred, nil
}

// unixPeer reads the peer's credentials from the kernel (SO_PEERCRED: what
// it was when it connected, which it cannot fake) and applies the policy.
func unixPeer(c net.Conn, group string, gid int, uids []int) (Peer, error) {
	cred, err := peerCred(c)
	if err != nil {
		return Peer{}, err
	}
	return policy(int(cred.Uid), int(cred.Gid), group, gid, uids), nil
}

// policy decides for a peer uid (and its primary gid): root is admin; the
// listed uids and the group's members (primary or supplementary, as the
// user database says) are allowed.
func policy(uid, pgid int, group string, gid int, uids []int) Peer {
	p := Peer{ID: "uid " + strconv.Itoa(uid), Key: "uid:" + strconv.Itoa(uid)}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		p.ID = fmt.Sprintf("user %s (uid %d)", u.Username, uid)
	}
	switch {
	case uid == 0:
		p.Allowed, p.Admin = true, true
	case slices.Contains(uids, uid):
		p.Allowed = true
	case gid >= 0 && (pgid == gid || inGroup(uid, gid)):
		p.Allowed = true
	case gid < 0:
		p.Why = fmt.Sprintf("the group %s does not exist on this machine, so only root may", group)
	default:
		p.Why = fmt.Sprintf("not a member of the group %s (an administrator adds you: usermod -aG %s USER, then log in again)", group, group)
	}
	return p
}

func inGroup(uid, gid int) bool {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return false
	}
	gids, err := u.GroupIds()
	return err == nil && slices.Contains(gids, strconv.Itoa(gid))
}

func dialTransport(ctx context.Context, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", address)
}

// isAbsent: no helper listens (no socket, or a stale one).
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}

// whoMay says who the socket admits, for a refused dial.
const whoMay = "root and members of the group " + DefaultGroup + " may use it"
