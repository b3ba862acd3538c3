//go:build !linux

package boltstore

import bolt "go.etcd.io/bbolt"

func mappedResident() (int64, bool) { return 0, false }

func dropMapped(*bolt.DB) error { return nil }
