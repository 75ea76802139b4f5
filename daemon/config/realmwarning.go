package config

import (
	"fmt"

	"github.com/hideyourports/hyp/core/sequence"
)

// realmWarning says, for a v3 key whose file names a realm other than the gateway's, what that
// means; "" otherwise. A key file may set its own realm (issue #22: one key for a member of
// another realm), but at a realm gateway it is silent otherwise: the key's knocks are then made
// for the file's realm, and its clients' knocks for the gateway's realm open nothing here.
func realmWarning(k Key, defaults Config) string {
	if k.Params.Scheme != sequence.V3 || k.Params.Realm == defaults.Realm {
		return ""
	}
	return fmt.Sprintf("key file %s sets realm %q, not this gateway's realm %q: it opens this gateway only with knocks made for realm %q (clients need realm=%s in the URI); remove the file's realm line to use the gateway's",
		k.Path, k.Params.Realm, defaults.Realm, k.Params.Realm, k.Params.Realm)
}
