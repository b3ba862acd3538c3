package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// The Windows service. `aspstated service install` registers this binary
// with the service manager to be started as `aspstated service run
// [--log-file FILE] [--config FILE]`; `service run` then runs the same run
// function as a console start, with the service's stop and shutdown requests
// in place of SIGTERM, and its log lines going to the Event Log (source
// "aspstated") or to the log file.

const (
	serviceName    = "aspstated"
	serviceDisplay = "aspstated (ASP.NET State Service replacement)"
	serviceDesc    = "Keeps ASP.NET session state for web servers (StateServer mode, TCP 42424); a drop-in replacement for aspnet_state.exe."
	// serviceAccount runs the service with few rights (as the stock service
	// runs as NetworkService); the data directory is made its own.
	serviceAccount = `NT AUTHORITY\LocalService`
	// dataDirSDDL: protected (no inherited entries), full control for
	// SYSTEM, Administrators and LocalService only: session IDs and their
	// data are credentials.
	dataDirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;LS)"
)

const serviceUsage = `Usage: aspstated service COMMAND

  install [--config FILE] [--log-file FILE]
            register the Windows service (automatic start, as LocalService),
            its Event Log source and %ProgramData%\aspstate; the service runs
            with the given configuration file, logging to FILE if given, else
            to the Event Log
  uninstall remove the service and its Event Log source (data is kept)
  start     start the service
  stop      stop the service (as SIGTERM does: answers requests in flight)
  run       what the service manager starts (runs in the console otherwise)
`

// platformMain handles `aspstated service ...`; any other command line is
// the portable main's.
func platformMain(args []string) (int, bool) {
	if len(args) == 0 || args[0] != "service" {
		return 0, false
	}
	if len(args) < 2 {
		fmt.Fprint(os.Stderr, serviceUsage)
		return 2, true
	}
	var err error
	switch args[1] {
	case "install":
		err = installService(args[2:])
	case "uninstall":
		err = uninstallService()
	case "start":
		err = startService()
	case "stop":
		err = stopService(30 * time.Second)
	case "run":
		return runService(args[2:]), true
	default:
		fmt.Fprintf(os.Stderr, "aspstated: unknown service command %q\n\n%s", args[1], serviceUsage)
		return 2, true
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "aspstated: service %s: %v\n", args[1], err)
		var usage usageError
		if errors.As(err, &usage) {
			return 2, true
		}
		return 1, true
	}
	return 0, true
}

type usageError struct{ error }

// serviceArgs checks install's own flags and returns the arguments the
// service is started with (absolute paths: the service runs in System32).
func serviceArgs(args []string) ([]string, error) {
	fs := flag.NewFlagSet("service install", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := fs.String("config", "", "configuration file")
	logFile := fs.String("log-file", "", "log file (default: the Event Log)")
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	out := []string{"service", "run"}
	if *logFile != "" {
		abs, err := filepath.Abs(*logFile)
		if err != nil {
			return nil, err
		}
		out = append(out, "--log-file", abs)
	}
	if *config != "" {
		abs, err := filepath.Abs(*config)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, usageError{fmt.Errorf("--config: %w", err)}
		}
		out = append(out, "--config", abs)
	}
	return out, nil
}

func installService(args []string) error {
	sargs, err := serviceArgs(args)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := makeDataDir(dataDir()); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName:      serviceDisplay,
		Description:      serviceDesc,
		StartType:        mgr.StartAutomatic,
		ServiceStartName: serviceAccount,
	}, sargs...)
	if err != nil {
		return err
	}
	defer s.Close()
	// Restart after a failure (exit code 1), twice, quickly; not forever.
	_ = s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.NoAction},
	}, 24*60*60)
	_ = s.SetRecoveryActionsOnNonCrashFailures(true)
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil &&
		!strings.Contains(err.Error(), "exists") {
		_ = s.Delete()
		return fmt.Errorf("registering the Event Log source: %w", err)
	}
	fmt.Printf("installed service %s: %q %s\n", serviceName, exe, strings.Join(sargs, " "))
	return nil
}

func uninstallService() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the service manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", serviceName, err)
	}
	defer s.Close()
	if err := s.Delete(); err != nil {
		return err
	}
	_ = eventlog.Remove(serviceName)
	fmt.Printf("removed service %s (data in %s is kept)\n", serviceName, dataDir())
	return nil
}

func startService() error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", serviceName, err)
	}
	defer s.Close()
	return s.Start()
}

func stopService(timeout time.Duration) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", serviceName, err)
	}
	defer s.Close()
	st, err := s.Control(svc.Stop)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("still stopping after %s", timeout)
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return err
		}
	}
	return nil
}

// makeDataDir creates dir (and its parents) if needed and, when it creates
// it, restricts it to SYSTEM, Administrators and the service's account.
func makeDataDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(dataDirSDDL)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// runService runs the gateway for the service manager (or in the console if
// started by hand): args are `[--log-file FILE]` then run's own arguments.
func runService(args []string) int {
	logFile := ""
	if len(args) >= 2 && args[0] == "--log-file" {
		logFile, args = args[1], args[2:]
	}
	isService, err := startedByServiceManager()
	if err != nil {
		fmt.Fprintf(os.Stderr, "aspstated: %v\n", err)
		return 1
	}
	var logs io.Writer = os.Stderr
	switch {
	case logFile != "":
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			reportEarly(isService, fmt.Sprintf("aspstated: log file: %v", err))
			return 1
		}
		defer f.Close()
		logs = f
	case isService:
		el, err := eventlog.Open(serviceName)
		if err != nil {
			return 1 // nowhere to say why; the service manager records the exit code
		}
		defer el.Close()
		logs = &eventLogWriter{sink: el}
	}
	_ = makeDataDir(dataDir()) // the default paths live there; run reports a failure to open
	runFn := func(ctx context.Context, ready func(net.Addr)) int {
		return run(ctx, runEnv{args: args, environ: os.Environ(), stdout: logs, stderr: logs, ready: ready, gomaxprocs: runtime.GOMAXPROCS})
	}
	if !isService {
		ctx, stop := consoleContext()
		defer stop()
		return runFn(ctx, nil)
	}
	h := &serviceHandler{run: runFn}
	if err := svc.Run(serviceName, h); err != nil {
		fmt.Fprintf(logs, "aspstated: service: %v\n", err)
		return 1
	}
	return h.code
}

// reportEarly says why the service could not start before its log exists.
func reportEarly(isService bool, msg string) {
	if !isService {
		fmt.Fprintln(os.Stderr, msg)
		return
	}
	if el, err := eventlog.Open(serviceName); err == nil {
		_ = el.Error(1, msg)
		el.Close()
	}
}

// startedByServiceManager is svc.IsWindowsService (the parent process is
// services.exe in session 0), and under Wine the same without the session:
// Wine runs services.exe, like every process, in session 1, so there the
// check alone says "console", the service never connects to the service
// manager, and `sc start` fails with 1053. On Windows the answer is
// svc.IsWindowsService's.
func startedByServiceManager() (bool, error) {
	if is, err := svc.IsWindowsService(); is || err != nil || !underWine() {
		return is, err
	}
	name, err := parentImageName()
	return strings.EqualFold(name, "services.exe"), err
}

// underWine: Wine's ntdll exports wine_get_version, Windows' does not.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// parentImageName is the image name of the process that started this one
// ("" if it has exited), found as svc.IsWindowsService finds it.
func parentImageName() (string, error) {
	var self windows.PROCESS_BASIC_INFORMATION
	size := uint32(unsafe.Sizeof(self))
	if err := windows.NtQueryInformationProcess(windows.CurrentProcess(), windows.ProcessBasicInformation,
		unsafe.Pointer(&self), size, &size); err != nil {
		return "", err
	}
	var buf []byte
	for size = 64 << 10; ; {
		buf = make([]byte, size)
		err := windows.NtQuerySystemInformation(windows.SystemProcessInformation, unsafe.Pointer(&buf[0]), size, &size)
		if err == nil {
			break
		}
		if err != windows.STATUS_INFO_LENGTH_MISMATCH {
			return "", err
		}
		size += 16 << 10 // processes may start between the two calls
	}
	for off := uintptr(0); ; {
		p := (*windows.SYSTEM_PROCESS_INFORMATION)(unsafe.Pointer(&buf[off]))
		if p.UniqueProcessID == self.InheritedFromUniqueProcessId {
			return p.ImageName.String(), nil
		}
		if p.NextEntryOffset == 0 {
			return "", nil
		}
		off += uintptr(p.NextEntryOffset)
	}
}
