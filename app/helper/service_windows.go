//go:build windows

package helper

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// settle bounds the wait for the service to reach the state asked for.
const settle = 20 * time.Second

func control(cfg Config, action string, note func(string)) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service control manager: %w", err)
	}
	defer m.Disconnect()
	if action == "install" {
		return install(m, cfg, note)
	}
	s, err := m.OpenService(cfg.name())
	if err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return ErrNotInstalled
		}
		return fmt.Errorf("opening the service: %w", err)
	}
	defer s.Close()
	switch action {
	case "uninstall":
		// A service marked for deletion goes on running until it stops: stop it first.
		if err := stop(s); err != nil {
			return fmt.Errorf("stopping it before removing it: %w", err)
		}
		if err := s.Delete(); err != nil {
			return fmt.Errorf("deleting it: %w", err)
		}
		return nil
	case "start":
		return start(s, cfg)
	case "stop":
		return stop(s)
	}
	if err := stop(s); err != nil {
		return err
	}
	return start(s, cfg)
}

// install registers the service: automatic start (delayed where the system has that), run as
// LocalSystem with ServiceFlag on its command line, restarted by the recovery actions when the
// helper fails.
func install(m *mgr.Mgr, cfg Config, note func(string)) error {
	if s, err := m.OpenService(cfg.name()); err == nil {
		s.Close()
		return errors.New("it is already installed (hyp helper uninstall first)")
	}
	exe, args, err := cfg.command()
	if err != nil {
		return err
	}
	s, err := m.CreateService(cfg.name(), exe, mgr.Config{
		DisplayName:  displayName,
		Description:  description,
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}, args...)
	if err != nil {
		return fmt.Errorf("creating the service: %w", err)
	}
	defer s.Close()
	// Delayed start keeps the boot quick. wine 8 lacks the setting (ERROR_INVALID_LEVEL): plain
	// automatic start then, which only starts the helper a little earlier.
	delayed := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	err = windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&delayed)))
	if errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		note("this system has no delayed automatic start: the helper starts at boot without delay")
	} else if err != nil {
		s.Delete()
		return fmt.Errorf("setting delayed automatic start: %w", err)
	}
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 10 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		s.Delete()
		return fmt.Errorf("setting the recovery actions (restart on failure): %w", err)
	}
	// The helper failing (an empty store) is an exit with an error, not a crash: restart then too.
	err = s.SetRecoveryActionsOnNonCrashFailures(true)
	if errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		note("this system cannot apply recovery actions to a service that stops with an error: a failed helper stays stopped")
	} else if err != nil {
		s.Delete()
		return fmt.Errorf("setting the recovery actions for errors: %w", err)
	}
	return nil
}

// start starts the service and waits until it runs, or fails with why it stopped.
func start(s *mgr.Service, cfg Config) error {
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return fmt.Errorf("starting it: %w", err)
	}
	st, err := await(s, svc.Running)
	if err != nil {
		return err
	}
	if st.State != svc.Running {
		return fmt.Errorf("it stopped at once: %s", describe(st, cfg))
	}
	return nil
}

// stop stops the service unless it is stopped, and waits until it is.
func stop(s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("querying it: %w", err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("stopping it: %w", err)
	}
	if st, err = await(s, svc.Stopped); err != nil {
		return err
	}
	if st.State != svc.Stopped {
		return fmt.Errorf("it did not stop within %v", settle)
	}
	return nil
}

// await waits until the service leaves its pending states (or reaches want), up to settle.
// The service control manager offers no notification Go's mgr wraps, and a state change takes
// milliseconds, so it asks every 50 ms.
func await(s *mgr.Service, want svc.State) (svc.Status, error) {
	deadline := time.Now().Add(settle)
	for {
		st, err := s.Query()
		if err != nil {
			return st, fmt.Errorf("querying it: %w", err)
		}
		pending := st.State == svc.StartPending || st.State == svc.StopPending
		if st.State == want || (!pending && want != svc.Stopped) || time.Now().After(deadline) {
			return st, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(cfg Config) (State, error) {
	m, err := mgr.Connect()
	if err != nil {
		return State{}, fmt.Errorf("connecting to the service control manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(cfg.name())
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return State{}, ErrNotInstalled
	}
	if err != nil {
		return State{}, fmt.Errorf("opening the %s service: %w", cfg.name(), err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return State{}, fmt.Errorf("asking the service manager about %s: %w", cfg.name(), err)
	}
	return State{Running: st.State == svc.Running, Text: describe(st, cfg)}, nil
}

// describe says a service status in words; a stop with an error names the log that says why.
func describe(st svc.Status, cfg Config) string {
	switch st.State {
	case svc.Running:
		return "running"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Paused, svc.PausePending, svc.ContinuePending:
		return "paused"
	}
	// A service that never ran reports ERROR_SERVICE_NEVER_STARTED: no error of its own.
	if st.Win32ExitCode == 0 || st.Win32ExitCode == uint32(windows.ERROR_SERVICE_NEVER_STARTED) {
		return "stopped"
	}
	text := "stopped with an error"
	if st.Win32ExitCode == uint32(windows.ERROR_SERVICE_SPECIFIC_ERROR) {
		text = fmt.Sprintf("stopped with an error (helper exit code %d)", st.ServiceSpecificExitCode)
	}
	// The helper's last words (helper.Run logs them before the service stops) say why.
	if _, why, ok := strings.Cut(lastLogLine(logPath(cfg)), "helper stopped: "); ok {
		text += ": " + why
	}
	return text
}

// lastLogLine is the last line of the log at path, "" when there is none.
func lastLogLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	const tail = 4096
	off := max(st.Size()-tail, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return ""
	}
	b = bytes.TrimRight(b, "\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(bytes.TrimSpace(b))
}
