package main

import (
	"github.com/aspstate/aspstate/internal/testlog"
)

// lockedLog is a log destination the code under test writes from its own goroutines.
type lockedLog = testlog.Buffer
