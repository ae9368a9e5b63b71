package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redisLogger carries go-redis's own messages (redis.SetLogger) into the
// process's slog logger, so that they come out in LOG_FORMAT like every
// other line instead of as plain text on stderr. go-redis logs only what
// goes wrong (dial failures, sentinel and cluster trouble): warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	l.log.WarnContext(ctx, "redis: "+strings.TrimPrefix(msg, "redis: "))
}
