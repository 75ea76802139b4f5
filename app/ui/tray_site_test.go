package ui

import "testing"

// A profile with sites: the status line and the notification say which site the connection
// came up through (the last site the steps named), and so does the result when it ends.
func TestTrayShowsTheSiteThatAnswered(t *testing.T) {
	tr, b, h, n := newTestTray(t)
	h.item(t, "Knock & Connect: office").Action()
	<-b.started
	for _, s := range []Step{
		{Title: "Knocking", Detail: "site a: 10.77.1.1, realm \"a\"", State: StepRunning, Site: "a"},
		{Title: "Checking", Detail: "site a did not open: no answer; trying site b", State: StepRunning, Site: "a"},
		{Title: "Knocking", Detail: "site b: 10.77.2.1, realm \"b\"", State: StepRunning, Site: "b"},
		{Title: "Connected", Detail: "site b answered: 10.77.2.1 is open", State: StepOK, Site: "b"},
	} {
		b.feed(t, s)
	}
	b.feed(t, Step{Title: "Launched", Detail: "started wg-quick up office", State: StepOK, Up: true, Site: "b"})
	assertState(t, tr, h, OK, "office connected via site b at 15:04:05", "tray-ok.png")
	if got := n.all(); len(got) != 1 || got[0].Title != "hyp: office connected via site b" {
		t.Errorf("notifications = %+v, want one: office connected via site b", got)
	}
	h.item(t, "Disconnect: office").Action()
	tr.Wait()
	if r, ok := tr.Last(); !ok || r.Site != "b" {
		t.Errorf("last result = %+v; want site b", r)
	}
}
