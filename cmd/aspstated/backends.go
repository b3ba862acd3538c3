package main

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
)

// opener opens one kind of backend from its configuration section.
type opener func(c *BackendConfig, log *slog.Logger) (backends.Backend, error)

// backendOpeners is the registry of backends by name: a plain map, no init()
// registration, so adding a driver is one line here.
func backendOpeners() map[string]opener {
	return map[string]opener{
		"memory": openMemory,
	}
}

func openBackend(c *BackendConfig, log *slog.Logger) (backends.Backend, error) {
	reg := backendOpeners()
	open, ok := reg[c.Type]
	if !ok {
		names := make([]string, 0, len(reg))
		for n := range reg {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("backend.type: unknown backend %q (choose one of %s)", c.Type, strings.Join(names, ", "))
	}
	return open(c, log)
}

func openMemory(c *BackendConfig, log *slog.Logger) (backends.Backend, error) {
	return memstore.New(memstore.Config{MaxBytes: c.Memory.MaxBytes, Logger: log})
}
