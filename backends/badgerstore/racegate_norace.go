//go:build !race

package badgerstore

// raceGate is empty outside race builds: see racegate_race.go.
type raceGate struct{}

func (*raceGate) commitStart() {}
func (*raceGate) commitEnd()   {}
func (*raceGate) gcStart()     {}
func (*raceGate) gcEnd()       {}
