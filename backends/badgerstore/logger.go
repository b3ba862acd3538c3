package badgerstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// slogAdapter routes badger's logging into slog: errors and warnings at their
// level, badger's chatty info and debug lines at Debug.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) log(level slog.Level, format string, args ...any) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, redactBytes(args)...)), "component", "badger")
}

// redactBytes replaces byte-slice arguments: badger passes keys (and values)
// that way, as in "Unable to read: Key: %v" on a damaged value log, and our
// keys hold session IDs, which are credentials. Nothing else badger logs is
// a []byte.
func redactBytes(args []any) []any {
	for i, a := range args {
		if b, ok := a.([]byte); ok {
			args[i] = redacted(len(b))
		}
	}
	return args
}

// redacted prints as a byte count whatever the verb.
type redacted int

func (r redacted) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "<%d bytes redacted>", int(r)) }

func (a slogAdapter) Errorf(f string, args ...any)   { a.log(slog.LevelError, f, args...) }
func (a slogAdapter) Warningf(f string, args ...any) { a.log(slog.LevelWarn, f, args...) }
func (a slogAdapter) Infof(f string, args ...any)    { a.log(slog.LevelDebug, f, args...) }
func (a slogAdapter) Debugf(f string, args ...any)   { a.log(slog.LevelDebug, f, args...) }
