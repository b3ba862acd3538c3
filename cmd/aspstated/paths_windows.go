package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// stockParametersKey is where the ASP.NET State Service (aspnet_state.exe)
// keeps its settings, under HKEY_LOCAL_MACHINE.
const stockParametersKey = `SYSTEM\CurrentControlSet\Services\aspnet_state\Parameters`

// platformDefaults on Windows: the durable stores keep their data under
// %ProgramData%\aspstate (a service has no useful working directory: the
// service manager starts it in System32), and if the stock service's
// registry settings exist they choose the listen address, so that replacing
// aspnet_state.exe needs no configuration. A file, ASPSTATE_ variable or
// flag overrides both.
func platformDefaults() map[string]any {
	d := map[string]any{
		"backend.bbolt.path":  filepath.Join(dataDir(), "aspstate.db"),
		"backend.badger.path": filepath.Join(dataDir(), "badger"),
	}
	if listen, ok := stockListen(registry.LOCAL_MACHINE, stockParametersKey); ok {
		d["listen"] = listen
	}
	return d
}

// dataDir is %ProgramData%\aspstate (C:\ProgramData\aspstate by default).
func dataDir() string {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		if p, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0); err == nil {
			pd = p
		} else {
			pd = `C:\ProgramData`
		}
	}
	return filepath.Join(pd, "aspstate")
}

// stockListen reads the stock service's Port and AllowRemoteConnection
// values (both DWORDs) under root\path and returns the address the stock
// service would listen on: all addresses when AllowRemoteConnection is 1,
// else loopback, on Port (42424 when it is missing or out of range). ok is
// false when neither value exists.
func stockListen(root registry.Key, path string) (listen string, ok bool) {
	k, err := registry.OpenKey(root, path, registry.QUERY_VALUE)
	if err != nil {
		return "", false
	}
	defer k.Close()
	port, _, perr := k.GetIntegerValue("Port")
	remote, _, rerr := k.GetIntegerValue("AllowRemoteConnection")
	if perr != nil && rerr != nil {
		return "", false
	}
	if perr != nil || port == 0 || port > 65535 {
		port = 42424
	}
	host := "127.0.0.1"
	if rerr == nil && remote == 1 {
		host = "" // every address, IPv4 and IPv6
	}
	return net.JoinHostPort(host, strconv.FormatUint(port, 10)), true
}
