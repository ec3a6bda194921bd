package runner

import (
	"context"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// closeAndWait ends a PostgreSQL session and waits, at most a second, until
// the server has closed the socket. PostgreSQL closes it only after the
// backend has left the process array; without the wait, the next
// scenario's reset (DROP DATABASE … WITH (FORCE), ALTER DATABASE … RENAME)
// often finds the backend still exiting and sleeps 100 ms before it looks
// again.
func closeAndWait(ctx context.Context, conn *pgx.Conn) {
	if conn.IsClosed() {
		return
	}
	hc, err := conn.PgConn().Hijack()
	if err != nil { // not idle (a step was cut short): close as usual
		_ = conn.Close(ctx)
		return
	}
	defer hc.Conn.Close()
	// The protocol's Terminate message: 'X' and a length of 4.
	if _, err := hc.Conn.Write([]byte{'X', 0, 0, 0, 4}); err != nil {
		return
	}
	_ = hc.Conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, hc.Conn)
}
