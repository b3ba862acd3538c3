//go:build !windows

package main

// platformMain handles what only one platform has before the portable main
// runs (Windows: the service commands). Nothing here.
func platformMain([]string) (code int, handled bool) { return 0, false }

// platformDefaults are configuration values that replace the built-in
// defaults on this platform, below files, variables and flags. None here.
func platformDefaults() map[string]any { return nil }
