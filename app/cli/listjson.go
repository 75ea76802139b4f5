package cli

import (
	"encoding/json"
	"io"
	"time"

	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
)

// The JSON of hyp's listings (profile list, helper list, helper live): one name per thing, the
// same as hypd's and the flags' (keepalive as --keepalive; check as check= in a URI), durations as
// strings such as "45s", and [] where a list is empty, never null.

// profileJSON is one profile as the listings print it; it never holds a key.
type profileJSON struct {
	Name      string   `json:"name"`
	Host      string   `json:"host"`
	Scheme    string   `json:"scheme,omitempty"`
	Check     string   `json:"check"`     // "tcp/22", or "" when none
	KeepAlive string   `json:"keepalive"` // "45s", or "" when none
	AlwaysOn  bool     `json:"always_on"`
	KeyID     string   `json:"key_id,omitempty"`
	KeyIn     string   `json:"key_in,omitempty"` // "keyring" or the key file's path
	Command   []string `json:"command"`
}

// liveJSON is one of the running helper's profiles and how it stands.
type liveJSON struct {
	Name      string     `json:"name"`
	Host      string     `json:"host"`
	Check     string     `json:"check"`
	KeepAlive string     `json:"keepalive"`
	Command   []string   `json:"command"`
	Connected bool       `json:"connected"`
	LastKnock *time.Time `json:"last_knock,omitempty"`
	LastError string     `json:"last_error"`
	Status    string     `json:"status"`
	Since     *time.Time `json:"since,omitempty"`
}

func durJSON(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

func checkJSON(port uint16) string {
	if port == 0 {
		return ""
	}
	return checkText(port)
}

func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func timeJSON(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toProfileJSON(p profiles.Profile, keepAlive time.Duration) profileJSON {
	return profileJSON{Name: p.Name, Host: p.Host, Scheme: string(p.Params.Scheme), Check: checkJSON(p.CheckPort),
		KeepAlive: durJSON(keepAlive), AlwaysOn: p.AlwaysOn, KeyID: keyID(p), KeyIn: secretWhere(p), Command: orEmpty(p.Command)}
}

func toLiveJSON(p helperipc.ProfileState) liveJSON {
	return liveJSON{Name: p.Name, Host: p.Host, Check: checkJSON(p.CheckPort), KeepAlive: durJSON(p.KeepAlive),
		Command: orEmpty(p.Command), Connected: p.Connected, LastKnock: timeJSON(p.LastKnock), LastError: p.LastError,
		Status: p.Status, Since: timeJSON(p.Since)}
}

// keyID is the key's fingerprint, "" when the profile holds no key (the store's list reads none).
func keyID(p profiles.Profile) string {
	if p.Key.IsZero() {
		return ""
	}
	return p.Key.ID()
}

// writeJSON prints v indented, as hypd status --json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
