package wire

import "time"

// .NET DateTime ticks are 100 ns units since 0001-01-01 00:00:00, counted on
// the wall clock of whatever zone the DateTime is in (no offset stored).
const (
	ticksPerSecond  = 10_000_000
	unixEpochTicks  = 621_355_968_000_000_000 // ticks at 1970-01-01 00:00:00
	nanosecPerTicks = 100
)

// TicksFromTime returns the .NET ticks of t's wall clock in t's own location.
// The LockDate header carries server-local ticks, so callers pass local time.
func TicksFromTime(t time.Time) int64 {
	_, offset := t.Zone()
	wall := t.Unix() + int64(offset)
	return unixEpochTicks + wall*ticksPerSecond + int64(t.Nanosecond())/nanosecPerTicks
}

// TimeFromTicks returns the instant whose wall clock in loc reads ticks (nil
// loc means time.Local, the zone LockDate is in).
func TimeFromTicks(ticks int64, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	d := ticks - unixEpochTicks
	sec, rem := d/ticksPerSecond, d%ticksPerSecond
	if rem < 0 {
		sec, rem = sec-1, rem+ticksPerSecond
	}
	u := time.Unix(sec, rem*nanosecPerTicks).UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), loc)
}
