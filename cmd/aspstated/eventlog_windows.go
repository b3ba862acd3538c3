package main

import (
	"bytes"
	"strings"
)

// eventSink is what eventLogWriter writes to: *eventlog.Log, or a test's
// recorder.
type eventSink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// Event IDs (the source is registered with EventCreate's message file,
// which shows the text as is for IDs 1 to 1000).
const (
	eventIDInfo    = 1
	eventIDWarning = 2
	eventIDError   = 3
)

// eventLogWriter turns the gateway's log lines into Event Log entries of the
// same level. slog's text and JSON handlers write one record per Write; a
// line without a level (a configuration error printed before the logger
// exists) is an error.
type eventLogWriter struct{ sink eventSink }

func (w *eventLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\r\n")
	if msg == "" {
		return len(p), nil
	}
	var err error
	switch lineLevel(p) {
	case "DEBUG", "INFO":
		err = w.sink.Info(eventIDInfo, msg)
	case "WARN":
		err = w.sink.Warning(eventIDWarning, msg)
	default:
		err = w.sink.Error(eventIDError, msg)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// lineLevel finds the level of a slog text (level=INFO) or JSON
// ("level":"INFO") line; "" if there is none.
func lineLevel(p []byte) string {
	for _, prefix := range []string{"level=", `"level":"`} {
		i := bytes.Index(p, []byte(prefix))
		if i < 0 {
			continue
		}
		rest := p[i+len(prefix):]
		for _, l := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
			if bytes.HasPrefix(rest, []byte(l)) {
				return l
			}
		}
	}
	return ""
}
