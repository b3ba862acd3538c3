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

// opener opens one kind of backend from the configuration. maxValue is the
// gateway's body limit, so a store never refuses what the front end accepted.
type opener func(c *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error)

// backendOpeners is the registry of backends by name: a plain map, no init()
// registration, so adding a driver is one line here.
func backendOpeners() map[string]opener {
	return map[string]opener{
		"memory": openMemory,
		"bbolt":  openBolt,
		"badger": openBadger,
		"redis":  openRedis,
	}
}

func openBackend(c *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error) {
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
	return open(c, maxValue, log)
}

func openMemory(c *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error) {
	return memstore.New(memstore.Config{MaxBytes: c.Memory.MaxBytes, MaxValueSize: maxValue, Logger: log})
}

func openBolt(c *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error) {
	b := &c.Bbolt
	return boltstore.Open(boltstore.Config{Path: b.Path, Sync: b.Sync, FlushInterval: b.FlushInterval,
		SweepInterval: b.SweepInterval, MaxValueSize: maxValue, Logger: log})
}

func openBadger(c *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error) {
	b := &c.Badger
	return badgerstore.Open(badgerstore.Config{Path: b.Path, Sync: b.Sync, SyncInterval: b.SyncInterval,
		RecordCacheSize: b.RecordCacheSize, ValueLogFileSize: b.ValueLogFileSize,
		ValueThreshold: b.ValueThreshold, MemTableSize: b.MemTableSize, NumMemtables: b.NumMemtables,
		BlockCacheSize: b.BlockCacheSize, IndexCacheSize: b.IndexCacheSize, GCInterval: b.GCInterval,
		MaxValueSize: maxValue, Logger: log})
}

func openRedis(c *BackendConfig, maxValue int, log *slog.Logger) (backends.Backend, error) {
	r := &c.Redis
	return redisstore.Open(redisstore.Config{Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username,
		Password: r.Password, DB: r.DB, KeyPrefix: r.KeyPrefix, PoolSize: r.PoolSize, Pipelines: r.Pipelines,
		DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
		OpTimeout: r.OpTimeout, MaxRetries: r.MaxRetries, MaxValueSize: maxValue, Logger: log,
		TLS: redisstore.TLSConfig{Enabled: r.TLS.Enabled, CAFile: r.TLS.CAFile, CertFile: r.TLS.CertFile,
			KeyFile: r.TLS.KeyFile, ServerName: r.TLS.ServerName, InsecureSkipVerify: r.TLS.InsecureSkipVerify}})
}
