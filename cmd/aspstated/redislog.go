package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// redisLogger sends go-redis's own messages (one per failed dial, which
// repeat while Redis is down) to slog at debug level. redisstore already logs
// outages and recoveries once, at error and info level, in our format.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...interface{}) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "go-redis")
}

// routeRedisLogs installs the adapter. go-redis keeps its logger in a package
// variable, so this is process-wide; only main calls it.
func routeRedisLogs(log *slog.Logger) { redis.SetLogger(redisLogger{log: log}) }
