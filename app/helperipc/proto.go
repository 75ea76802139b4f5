// Package helperipc is the local channel between the helper service (root on
// Linux, LocalSystem on Windows) and the programs of the logged-in user (the
// tray, the CLI): the shape of wireguard-windows, one privileged manager and
// an unprivileged face talking to it.
//
// It owns the protocol (versioned messages, one JSON object a line, bounded
// in size and time), the client and the server, and the two transports,
// which differ only in how they listen, dial and tell who is on the other
// end: a unix socket checked by peer credentials (SO_PEERCRED) on Linux, a
// named pipe with an ACL on Windows.
//
// A connection carries one request. The server answers with zero or more
// "step" lines (the progress of a knock) and one final "done" or "error"
// line, then closes. What a peer may ask depends on who it is: listing and
// knocking are for the allowed users (see the transports), handing a
// profile over (which makes the helper run its command with its own rights)
// only for root or an elevated administrator.
//
// No response ever carries a key: the hand-over request is the only message
// with a secret in it, typed as Secret so that printing it shows nothing.
package helperipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the protocol version; a server answers a request of another
// version with an error naming both.
const Version = 1

// Limits of the channel.
const (
	// MaxMessage bounds one line (request or response): a profile list of
	// a few hundred entries fits; a peer that streams garbage does not make
	// the helper buffer it.
	MaxMessage = 256 << 10
	// RequestTimeout bounds how long the server waits for the request line
	// after accepting a connection, and each write of a response.
	RequestTimeout = 5 * time.Second
	// ConnectTimeout bounds one connect request on the server: a helper
	// profile that never opens must not hold a connection forever.
	ConnectTimeout = 2 * time.Minute
	// MaxConns bounds the connections served at once.
	MaxConns = 16
	// AdminConns of them are kept for administrators (root, SYSTEM, an
	// elevated administrator): users hold at most MaxConns-AdminConns.
	AdminConns = 4
	// MaxConnsPerPeer bounds the connections one user (uid, SID) holds.
	MaxConnsPerPeer = 4
)

// Operations.
const (
	OpList    = "list"    // the helper's profiles with live state
	OpConnect = "connect" // knock now and (re)launch the command; steps until it is up
	OpAdd     = "add"     // a profile handed over from a user's keyring (admin only)
)

// Request is what a client sends, as one line.
type Request struct {
	V    int       `json:"v"`
	Op   string    `json:"op"`
	Name string    `json:"name,omitempty"` // OpConnect
	Add  *HandOver `json:"add,omitempty"`  // OpAdd
}

// HandOver is a profile handed from a user's keyring to the helper: the full
// hyp:// URI (with its key) and the settings the URI does not carry.
type HandOver struct {
	Name      string        `json:"name"`
	URI       Secret        `json:"uri"`
	Command   []string      `json:"command,omitempty"`
	KeepAlive time.Duration `json:"keepalive,omitempty"`
	Gap       time.Duration `json:"gap,omitempty"`
	// Uses is the key's knocks per time step at the gateway (profiles.Profile.Uses; 0 means
	// 1). The URI does not carry it, and a helper that knocks with the wrong count is refused
	// for every knock after the first of a step.
	Uses    int  `json:"uses,omitempty"`
	Replace bool `json:"replace,omitempty"`
}

// Secret is a string that must reach the other end but never a log: it
// marshals to JSON as itself and prints as "[redacted]".
type Secret struct{ s string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s} }

// Reveal is the secret itself, for the one place that uses it.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.s == "" }

func (s Secret) String() string             { return "[redacted]" }
func (s Secret) GoString() string           { return "[redacted]" }
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.s) }

// UnmarshalJSON implements json.Unmarshaler.
func (s *Secret) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.s) }

// Response types.
const (
	TypeStep  = "step"
	TypeDone  = "done"
	TypeError = "error"
)

// Response is one line the server sends.
type Response struct {
	V        int            `json:"v"`
	Type     string         `json:"type"`
	Step     *Step          `json:"step,omitempty"`     // TypeStep
	Profiles []ProfileState `json:"profiles,omitempty"` // TypeDone of OpList
	Code     string         `json:"code,omitempty"`     // TypeError
	Error    string         `json:"error,omitempty"`    // TypeError
}

// Step is one step of a knock, as the helper's connect flow reported it.
type Step struct {
	Kind    string    `json:"kind"` // connect.StepKind's names: knocking, checking, connected, launched, ...
	Message string    `json:"message"`
	Err     string    `json:"err,omitempty"`
	At      time.Time `json:"at"`
}

// HiddenCommand stands for a profile's command in the list a user (not an
// administrator) gets.
const HiddenCommand = "(hidden: shown to administrators only)"

// ProfileState is one of the helper's profiles and how it stands now. It has
// no key, and no field that could hold one.
type ProfileState struct {
	Name      string        `json:"name"`
	Host      string        `json:"host"`
	CheckPort uint16        `json:"check_port,omitempty"`
	Command   []string      `json:"command,omitempty"` // [HiddenCommand] for users`
	KeepAlive time.Duration `json:"keepalive,omitempty"`
	// Connected: the gateway opened and the command runs (or, without a
	// command, the keep-alive knocks go on).
	Connected bool      `json:"connected"`
	LastKnock time.Time `json:"last_knock,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Status is the last step's sentence.
	Status string    `json:"status,omitempty"`
	Since  time.Time `json:"since,omitzero"` // when Status was reported
}

// Error codes.
const (
	CodeDenied     = "denied"      // the peer may not ask this
	CodeNotFound   = "not_found"   // no such helper profile
	CodeBadRequest = "bad_request" // malformed, too large, unknown op
	CodeVersion    = "version"     // another protocol version
	CodeFailed     = "failed"      // the operation ran and failed
	CodeBusy       = "busy"        // too many connections
)

// Errors a client can test for with errors.Is.
var (
	ErrDenied   = errors.New("not allowed by the helper service")
	ErrNotFound = errors.New("no such helper profile")
	// ErrNoHelper: nothing listens on the channel (the helper is not
	// installed or not running).
	ErrNoHelper = errors.New("the helper service is not running")
	// ErrNotHelper: something listens on the channel, but not as the
	// helper's account; the client sent it nothing.
	ErrNotHelper = errors.New("the helper channel is not served by the helper service")
)

// RemoteError is an error the helper sent back.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return "helper service: " + e.Message }

// Is maps codes to the package's sentinel errors.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrDenied:
		return e.Code == CodeDenied
	case ErrNotFound:
		return e.Code == CodeNotFound
	}
	return false
}
