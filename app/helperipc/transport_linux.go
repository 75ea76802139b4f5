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
	"strings"
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
//
// The helper is root and acts on the socket by name (removes a stale one,
// chowns and chmods the new one), so every directory on the way to it must
// be one only root can change: each is checked (checkDirStat), the socket's
// directory is then held open, and the socket is made, chowned, chmodded and
// removed relative to that handle. A user who owns an ancestor of a
// configured path could otherwise swap it between the check and the chmod
// (chmod 0660 root:hyp /etc/shadow).
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
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("the helper's socket %s: %w", path, err)
	}
	dirPath, name := filepath.Split(abs)
	dirPath = filepath.Clean(dirPath)
	if name == "" {
		return nil, fmt.Errorf("the helper's socket %s names a directory, not a socket", path)
	}
	if err := checkAncestors(dirPath); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dirPath, 0o755); err != nil {
		return nil, fmt.Errorf("making the helper's socket directory: %w", err)
	}
	dir, err := openCheckedDir(dirPath)
	if err != nil {
		return nil, err
	}
	ln, err := listenIn(dir, name, abs)
	if err != nil {
		dir.Close()
		return nil, err
	}
	mode := cfg.Mode
	if mode == 0 {
		mode = 0o660
	}
	dfd := int(dir.Fd())
	if gid >= 0 {
		err = unix.Fchownat(dfd, name, 0, gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil {
		// The entry is the socket bound just now, in a directory only root
		// may change: there is no link here to follow.
		err = unix.Fchmodat(dfd, name, uint32(mode.Perm()), 0)
	}
	if err != nil {
		ln.Close()
		unix.Unlinkat(dfd, name, 0)
		dir.Close()
		return nil, fmt.Errorf("securing %s: %w", abs, err)
	}
	return &Listener{
		Listener: ln,
		peer: func(c net.Conn) (Peer, error) {
			return unixPeer(c, group, gid, cfg.UIDs)
		},
		close: func() error {
			err := unix.Unlinkat(dfd, name, 0)
			if errors.Is(err, unix.ENOENT) {
				err = nil
			}
			if cerr := dir.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("removing the helper's socket %s: %w", abs, err)
			}
			return nil
		},
	}, nil
}

// listenIn removes a stale socket called name in dir and listens on a new
// one there. It binds through /proc/self/fd, so the socket lands in the
// directory that was checked whatever became of its path meanwhile.
func listenIn(dir *os.File, name, abs string) (net.Listener, error) {
	dfd := int(dir.Fd())
	via := fmt.Sprintf("/proc/self/fd/%d/%s", dfd, name)
	if len(via) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("the helper's socket name %q is too long (the socket is made through %s)", name, via)
	}
	if err := removeStale(dfd, name, via, abs); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", abs, err)
	}
	f := os.NewFile(uintptr(fd), abs)
	defer f.Close() // net.FileListener holds a duplicate
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: via}); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", abs, err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Unlinkat(dfd, name, 0)
		return nil, fmt.Errorf("listening on %s: %w", abs, err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		unix.Unlinkat(dfd, name, 0)
		return nil, fmt.Errorf("listening on %s: %w", abs, err)
	}
	return &namedListener{Listener: ln, addr: &net.UnixAddr{Name: abs, Net: "unix"}}, nil
}

// namedListener reports the socket's path rather than the /proc/self/fd
// name it was bound through.
type namedListener struct {
	net.Listener
	addr net.Addr
}

func (l *namedListener) Addr() net.Addr { return l.addr }

// checkAncestors checks every directory of dir as written that exists
// (symbolic links followed: /var/run is one), from / down. Clients find the
// helper by this path.
func checkAncestors(dir string) error {
	cur := "/"
	for _, part := range append([]string{""}, strings.Split(strings.TrimPrefix(dir, "/"), "/")...) {
		cur = filepath.Join(cur, part)
		if lst, err := os.Lstat(cur); err == nil && lst.Mode().Type() == fs.ModeSymlink {
			// A link is as good as who made it: one of a user's (in a sticky /tmp) could be
			// pointed elsewhere for the clients that follow it.
			if sys, ok := lst.Sys().(*syscall.Stat_t); !ok || (sys.Uid != 0 && int(sys.Uid) != os.Geteuid()) {
				return fmt.Errorf("%s, on the way to the helper's socket directory %s, is a link that is not root's: the helper's socket must be where only root can change entries (the default %s is)", cur, dir, DefaultAddress)
			}
		}
		st, err := os.Stat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // MkdirAll makes the rest as root's
		}
		if err != nil {
			return fmt.Errorf("checking %s, on the way to the helper's socket: %w", cur, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("checking %s, on the way to the helper's socket: no owner", cur)
		}
		if err := checkDirStat(cur, dir, st.IsDir(), sys.Uid, uint32(sys.Mode)); err != nil {
			return err
		}
	}
	return nil
}

// openCheckedDir opens dir (symbolic links resolved) from / one directory
// at a time, never following a link, and checks each on the handle it opened:
// what it returns is the directory that was checked.
func openCheckedDir(dir string) (*os.File, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("the helper's socket directory %s: %w", dir, err)
	}
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /: %w", err)
	}
	cur := "/"
	for _, part := range append([]string{""}, strings.Split(strings.TrimPrefix(real, "/"), "/")...) {
		if part != "" {
			cur = filepath.Join(cur, part)
			next, err := unix.Openat(fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			if err != nil {
				return nil, fmt.Errorf("opening %s, on the way to the helper's socket (changed while it was checked?): %w", cur, err)
			}
			fd = next
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("checking %s: %w", cur, err)
		}
		if err := checkDirStat(cur, real, true, st.Uid, st.Mode); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), real), nil
}

// checkDirStat refuses a directory on the way to the socket (dir) that
// someone besides root (or this process's user) could change: owned by
// another user, or writable by its group or others without the sticky bit
// (which keeps them from renaming root's entries). The error names the
// directory.
func checkDirStat(path, dir string, isDir bool, uid, mode uint32) error {
	where := "the socket directory " + path
	if path != dir {
		where = path + ", above the helper's socket directory " + dir + ","
	}
	perm := fs.FileMode(mode & 0o777)
	switch {
	case !isDir:
		return fmt.Errorf("%s is not a directory", where)
	case uid != 0 && int(uid) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not by root: the helper's socket must be where only root can change entries (the default %s is)", where, uid, DefaultAddress)
	case perm&0o022 != 0 && mode&unix.S_ISVTX == 0:
		return fmt.Errorf("%s is writable by others (%v) without the sticky bit: the helper's socket must be where only root can change entries (the default %s is)", where, perm, DefaultAddress)
	}
	return nil
}

// removeStale deletes a socket called name in the directory dfd that nobody
// answers on (via is its name through /proc/self/fd, abs its path).
func removeStale(dfd int, name, via, abs string) error {
	var st unix.Stat_t
	err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", abs, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%s exists and is not a socket: remove it if nothing needs it", abs)
	}
	if c, err := net.Dial("unix", via); err == nil {
		c.Close()
		return fmt.Errorf("another helper already serves %s", abs)
	}
	if err := unix.Unlinkat(dfd, name, 0); err != nil {
		return fmt.Errorf("removing the stale socket %s: %w", abs, err)
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
