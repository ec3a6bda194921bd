package backend

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"time"
)

// LogTail returns the last n lines of a container's output, for error
// messages that must say why a container failed: "\nlast lines of its
// output:\n  …". It gives up after two seconds, and survives a cancelled
// ctx (it is called when something already went wrong).
func LogTail(ctx context.Context, c Container, n int) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	rc, err := c.Logs(ctx, false)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 || len(lines[0]) == 0 {
		return "\n(the container printed nothing)"
	}
	return "\nlast lines of its output:\n  " + string(bytes.Join(lines, []byte("\n  ")))
}

// QuoteArgv writes a command as its quoted words, for error messages that
// must show exactly what ran.
func QuoteArgv(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(a))
	}
	return b.String()
}
