package commands

import "context"

// serviceVerb returns the handler of a service-management verb (install, start, ...), or nil.
func serviceVerb(name string) func(ctx context.Context, e *env, args []string) error {
	return nil
}

// serviceVerbs lists the service verbs with their help, for usage.
func serviceVerbs() [][2]string { return nil }
