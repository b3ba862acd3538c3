package main

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/badgerstore"
	"github.com/aspstate/aspstate/backends/boltstore"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/backends/redisstore"
)

// driver is one kind of backend. prepare fills in what the gateway gives every
// store rather than reads from its section: maxValue, the gateway's body limit
// (so a store never refuses what the front end accepted), and the logger (nil
// while only validating). It returns the section, ready for Validate and open.
type driver struct {
	prepare func(b *BackendConfig, maxValue int, log *slog.Logger) interface{ Validate() error }
	open    func(b *BackendConfig) (backends.Backend, error)
}

// drivers is the registry of backends by name: a plain map, no init()
// registration. A driver's name is also its section's key under backend.
// Adding a driver is a field in BackendConfig and one entry here.
func drivers() map[string]driver {
	return map[string]driver{
		"memory": {
			prepare: func(b *BackendConfig, max int, log *slog.Logger) interface{ Validate() error } {
				b.Memory.MaxValueSize, b.Memory.Logger = max, log
				return &b.Memory
			},
			open: func(b *BackendConfig) (backends.Backend, error) { return memstore.New(b.Memory) },
		},
		"bbolt": {
			prepare: func(b *BackendConfig, max int, log *slog.Logger) interface{ Validate() error } {
				b.Bbolt.MaxValueSize, b.Bbolt.Logger = max, log
				return &b.Bbolt
			},
			open: func(b *BackendConfig) (backends.Backend, error) { return boltstore.Open(b.Bbolt) },
		},
		"badger": {
			prepare: func(b *BackendConfig, max int, log *slog.Logger) interface{ Validate() error } {
				b.Badger.MaxValueSize, b.Badger.Logger = max, log
				return &b.Badger
			},
			open: func(b *BackendConfig) (backends.Backend, error) { return badgerstore.Open(b.Badger) },
		},
		"redis": {
			prepare: func(b *BackendConfig, max int, log *slog.Logger) interface{ Validate() error } {
				b.Redis.MaxValueSize, b.Redis.Logger = max, log
				return &b.Redis
			},
			open: func(b *BackendConfig) (backends.Backend, error) { return redisstore.Open(b.Redis.Config) },
		},
	}
}

func (b *BackendConfig) driver() (driver, error) {
	reg := drivers()
	d, ok := reg[b.Type]
	if !ok {
		names := make([]string, 0, len(reg))
		for n := range reg {
			names = append(names, n)
		}
		sort.Strings(names)
		return d, fmt.Errorf("backend.type: unknown backend %q (choose one of %s)", b.Type, strings.Join(names, ", "))
	}
	return d, nil
}

// validate checks the chosen backend's section; errors name its keys.
func (b *BackendConfig) validate(maxValue int, known map[string]bool) error {
	d, err := b.driver()
	if err != nil {
		return err
	}
	return keyed(d.prepare(b, maxValue, nil).Validate(), "backend."+b.Type+".", known)
}

// openBackend opens the chosen backend; the configuration has been validated.
func openBackend(b *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error) {
	d, err := b.driver()
	if err != nil {
		return nil, err
	}
	d.prepare(b, maxValue, log)
	return d.open(b)
}
