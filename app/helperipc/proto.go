// Package helperipc is the local API between the helper service (root on Linux, LocalSystem on
// Windows) and the programs of the logged-in user (the tray, the CLI): the shape of
// wireguard-windows, one privileged manager and an unprivileged face talking to it.
//
// It is HTTP, as hypd's control socket (daemon/control) is and as tailscale's LocalAPI is for
// everything: one style for both local APIs of the project, and net/http brings what a
// hand-made line protocol had to build and test itself: framing, status codes, size limits
// (http.MaxBytesReader), server timeouts, a request context that ends when the client hangs
// up, and a streamed response for the steps of a knock (one JSON object per line, flushed as
// each step happens). Anyone can read it with curl --unix-socket.
//
// It owns the API (versioned paths under /v2/, the JSON bodies, the limits), the client and the
// server, and the two transports, which differ only in how they listen, dial and tell who is on
// the other end: a unix socket checked by peer credentials (SO_PEERCRED) on Linux, a named pipe
// with an ACL on Windows. The peer's identity is read from the kernel once per connection, at
// accept, where the per-peer limits and the administrators' reserved connections apply (a
// connection beyond them is answered busy and closed before it can hold a slot), and attached
// to it (http.Server.ConnContext); a connection carries one request. What a user (not an
// administrator) reads passes through one view in the server that hides the profiles' commands.
//
//	GET  /v2/profiles  the helper's profiles with live state
//	POST /v2/connect   {"name":...}: knock now; 200 streams {"type":"step"} lines, then "done" or "error"
//	POST /v2/add       a HandOver: store a profile and keep it alive (root or an elevated administrator)
//
// Errors are a status code and {"code":...,"error":...}. What a peer may ask depends on who it
// is: listing and knocking are for the allowed users (see the transports), handing a profile over
// (which makes the helper run its command with its own rights) only for root or an elevated
// administrator.
//
// Version 1 was a line-JSON protocol of its own. The two refuse each other in words, not by
// hanging: a v1 client gets a v1 error line saying this helper speaks version 2, and a v2 client
// that meets a v1 helper says so (ErrVersion).
//
// No response ever carries a key: the hand-over request is the only message with a secret in
// it, typed as Secret so that printing it shows nothing.
package helperipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the API version: the first element of every path (/v2/...) and the value of the
// ProtocolHeader of every answer. A request for another version is refused naming both.
const Version = 2

// ProtocolHeader carries Version in every answer of the helper; a client refuses an answer
// without it (something else, or another release of the helper, is listening).
const ProtocolHeader = "Hyp-Helper-Protocol"

// Limits of the channel.
const (
	// MaxMessage bounds a request body and one line or body of an answer: a profile list of a
	// few hundred entries fits; a peer that streams garbage does not make the helper buffer it.
	MaxMessage = 256 << 10
	// RequestTimeout bounds how long the server waits for a request (headers and body) after
	// accepting a connection, and each write of an answer.
	RequestTimeout = 5 * time.Second
	// ConnectTimeout bounds one connect request on the server: a helper profile that never
	// opens must not hold a connection forever.
	ConnectTimeout = 2 * time.Minute
	// MaxConns bounds the connections served at once.
	MaxConns = 16
	// AdminConns of them are kept for administrators (root, SYSTEM, an elevated administrator):
	// users hold at most MaxConns-AdminConns.
	AdminConns = 4
	// MaxConnsPerPeer bounds the connections one user (uid, SID) holds.
	MaxConnsPerPeer = 4
)

// Paths of the API.
const (
	PathProfiles = "/v2/profiles" // GET: the helper's profiles with live state
	PathConnect  = "/v2/connect"  // POST ConnectRequest: knock now and (re)launch the command; steps until it is up
	PathAdd      = "/v2/add"      // POST HandOver: a profile handed over from a user's keyring (admin only)
)

// ConnectRequest is the body of a connect.
type ConnectRequest struct {
	Name string `json:"name"`
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
	// Sites are the profile's gateways in the order it tries them (app/profiles.Site); none for
	// a profile of one gateway, whose host and realm the URI carries. A helper from before sites
	// ignores them and knocks the URI's host, the first site's.
	Sites []Site `json:"sites,omitempty"`
}

// Site is one gateway of a handed-over profile: host, realm and its own check port (0: the
// URI's).
type Site struct {
	Name  string `json:"name"`
	Host  string `json:"host"`
	Realm string `json:"realm,omitempty"`
	Check uint16 `json:"check,omitempty"`
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

// Line types of a streamed connect answer.
const (
	TypeStep  = "step"
	TypeDone  = "done"
	TypeError = "error"
)

// StreamLine is one line of a connect answer: steps, then one "done" or "error".
type StreamLine struct {
	Type  string `json:"type"`
	Step  *Step  `json:"step,omitempty"`  // TypeStep
	Code  string `json:"code,omitempty"`  // TypeError
	Error string `json:"error,omitempty"` // TypeError
}

// ErrorBody is the body of every answer that is not 2xx.
type ErrorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// ProfileList is the body of a GET /v2/profiles answer.
type ProfileList struct {
	Profiles []ProfileState `json:"profiles"`
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
	Command   []string      `json:"command,omitempty"` // [HiddenCommand] for users
	KeepAlive time.Duration `json:"keepalive,omitempty"`
	// Connected: the gateway opened and the command runs (or, without a
	// command, the keep-alive knocks go on).
	Connected bool      `json:"connected"`
	LastKnock time.Time `json:"last_knock,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Status is the last step's sentence. It and LastError do not name the command (the
	// server cuts it out for users should a handler's text slip).
	Status string    `json:"status,omitempty"`
	Since  time.Time `json:"since,omitzero"` // when Status was reported
}

// Error codes.
const (
	CodeDenied     = "denied"      // the peer may not ask this
	CodeNotFound   = "not_found"   // no such helper profile
	CodeBadRequest = "bad_request" // malformed, too large, unknown path
	CodeVersion    = "version"     // another API version
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
	// ErrVersion: the helper speaks another version of the API (another release of hyp).
	ErrVersion = errors.New("helper protocol version mismatch")
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
	case ErrVersion:
		return e.Code == CodeVersion
	}
	return false
}
