// Package netns runs Go code inside another Linux network namespace. A namespace belongs to an
// OS thread, not to a goroutine, so the code runs on a locked thread that joins the namespace
// and comes back; sockets it opens stay in that namespace for their whole life. The daemon uses
// it to attach inside a namespace it was given, and the tests to play client and gateway.
package netns
