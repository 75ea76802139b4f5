package servicerun

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestProgramStartDoesNotBlockAndStopCancels(t *testing.T) {
	running := make(chan struct{})
	p := NewProgram(context.Background(), func(ctx context.Context) error {
		close(running)
		<-ctx.Done()
		return nil
	}, time.Second)
	if err := p.Start(nil); err != nil { // returns while run still blocks
		t.Fatal(err)
	}
	<-running
	select {
	case <-p.Done():
		t.Fatal("run ended before Stop")
	default:
	}
	if err := p.Stop(nil); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before run ended")
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err after a clean stop = %v", err)
	}
	if err := p.Start(nil); err == nil {
		t.Error("a second Start succeeded")
	}
}

func TestProgramStopGivesUp(t *testing.T) {
	release := make(chan struct{})
	p := NewProgram(context.Background(), func(ctx context.Context) error {
		<-release // ignores ctx: a gateway stuck in the kernel
		return nil
	}, 20*time.Millisecond)
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err == nil {
		t.Fatal("Stop of a stuck run returned nil")
	}
	close(release)
	<-p.Done()
}

func TestProgramReportsRunFailure(t *testing.T) {
	boom := errors.New("attaching XDP to eth9: no such device")
	p := NewProgram(context.Background(), func(context.Context) error { return boom }, time.Second)
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if !errors.Is(p.Err(), boom) {
		t.Fatalf("Err = %v, want %v", p.Err(), boom)
	}
	if err := p.Stop(nil); !errors.Is(err, boom) {
		t.Fatalf("Stop after run failed = %v, want its error", err)
	}
}

func TestStopBeforeStart(t *testing.T) {
	p := NewProgram(context.Background(), func(context.Context) error { return nil }, 0)
	if err := p.Stop(nil); err != nil {
		t.Fatal(err)
	}
}

// TestRunForegroundEndsWithRunOrContext: Run returns run's failure at once, and nothing when
// the context (a signal) stopped it.
func TestRunForegroundEndsWithRunOrContext(t *testing.T) {
	boom := errors.New("the helper store holds no profiles")
	if err := Run(context.Background(), "test", false, func(context.Context, func()) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Run of a failing run = %v, want %v", err, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	go func() { <-running; cancel() }()
	err := Run(ctx, "test", false, func(ctx context.Context, ready func()) error {
		ready()
		close(running)
		<-ctx.Done()
		return ctx.Err()
	})
	if err != nil {
		t.Fatalf("Run stopped by its context = %v, want nil", err)
	}
}

func TestControlProgramRefusesToRun(t *testing.T) {
	p := Control()
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if p.Err() == nil {
		t.Fatal("the control program ran without an error")
	}
}

// TestReadyProgram: Ready closes when run says so, not when it starts; a run that fails
// first never becomes ready.
func TestReadyProgram(t *testing.T) {
	say := make(chan struct{})
	p := NewReadyProgram(context.Background(), func(ctx context.Context, ready func()) error {
		<-say
		ready()
		ready() // twice is harmless
		<-ctx.Done()
		return nil
	}, time.Second)
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ready():
		t.Fatal("ready before run said so")
	default:
	}
	close(say)
	<-p.Ready()
	if err := p.Stop(nil); err != nil {
		t.Fatal(err)
	}

	failed := NewReadyProgram(context.Background(), func(context.Context, func()) error { return errors.New("empty store") }, time.Second)
	if err := failed.Start(nil); err != nil {
		t.Fatal(err)
	}
	<-failed.Done()
	select {
	case <-failed.Ready():
		t.Fatal("a run that failed while starting became ready")
	default:
	}
}
