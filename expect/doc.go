// Package expect checks what a step produced against what its test
// expected. It is the assertion engine shared by the suite runner and the Go
// API: the runner maps a suite's expect tables onto the Exec, SQL, Redis and
// HTTP expectations here, and a Go test can build the same values directly.
//
// Every check returns a Result instead of a boolean. A failed check is a
// Failure that names what was checked and says what was expected and what
// came, with a unified line diff when the values span several lines:
//
//	stdout: expected "hello\n", got "helo\n"
//	rows[1][0]: expected 2, got 3
//	json $.user.name: expected "ada", got nothing ($.user has no key "name")
//
// Values are compared by type, not by their text: a number equals a number of
// the same value whatever its Go kind (TOML's int64 1, JSON's 1.0 and a
// PostgreSQL int4 1 are equal), but never a string ("1" is not 1). See Equal
// for the full rules and Format for how values are printed.
//
// Expectation fields that are nil (or empty) are not asserted, with one
// exception each for exec and http steps, because a step with no
// expectations must at least succeed: an exec step must exit 0 and an HTTP
// response must have a status below 400 unless told otherwise. SQL and Redis
// steps fail on an error unless ErrorContains says one is expected.
package expect
