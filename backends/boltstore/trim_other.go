//go:build !linux

package boltstore

import bolt "go.etcd.io/bbolt"

func dropMapped(*bolt.DB) error { return nil }
