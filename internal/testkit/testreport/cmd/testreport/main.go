// Command testreport turns `go test -json` on its standard input into plain go test's report
// and closes it with the counts: `go test -json ./... | testreport --no-skip go-test`. It exits
// 1 when a test or package failed, when no test ran or, with --no-skip, when any test was
// skipped.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hideyourports/hyp/internal/testkit/testreport"
)

func main() {
	noSkip := flag.Bool("no-skip", false, "fail when any test was skipped")
	verbose := flag.Bool("v", false, "copy every test's output, as go test -v does")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go test -json ./... | testreport [--no-skip] [-v] [LABEL]")
		flag.PrintDefaults()
	}
	flag.Parse()
	label := "tests"
	if flag.NArg() > 0 {
		label = flag.Arg(0)
	}
	s, err := testreport.Read(os.Stdin, os.Stdout, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	s.Write(os.Stdout, label)
	if !s.OK(*noSkip) {
		if s.Passed+s.Failed+len(s.Skipped) == 0 {
			fmt.Println("testreport: no test ran")
		}
		if *noSkip && len(s.Skipped) > 0 {
			fmt.Println("testreport: a skipped test fails this run (--no-skip): every need is provided here, so the skip hides something")
		}
		os.Exit(1)
	}
}
