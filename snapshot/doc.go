// Package snapshot keeps golden outputs ("snapshots") beside the tests that
// produce them, so that a change in what a step prints, returns or serves
// shows up in review as a diff, like a change in code.
//
// A suite's step with snapshot = "name" stores its output as entry "name"
// of __snapshots__/<suite>.snap next to the suite file (PathFor); a Go test
// calls Match, which stores entries in __snapshots__/<TestName>.snap in the
// package directory. Before it is stored or compared, output is made
// comparable across runs: values become Canonical text (JSON with sorted
// keys) and a Normalizer replaces what differs on every run — timestamps,
// UUIDs, durations, container IDs, the session ID, ports — with
// placeholders such as <TIME>. File.Check compares and, when told to,
// updates; Prune removes entries no suite refers to any more.
//
// # Updating
//
// Snapshots are written, never silently changed: a missing entry is
// created, a differing one fails with a unified diff. With
// `cleanroom run --update-snapshots` or CLEANROOM_UPDATE_SNAPSHOTS=1 (the
// only switch for go test, which has no flag of ours) differing entries are
// rewritten. When the CI environment variable is set, a missing entry fails
// instead of being created, because a snapshot written on a CI machine is
// never reviewed.
//
// # File format
//
// A .snap file is UTF-8 text made of lines ending in "\n". It starts with a
// comment saying what it is and how to update it, followed by the entries
// sorted by name (byte order), each one a header line and its content
// lines, with a blank line before each header:
//
//	# cleanroom snapshots: golden outputs of a suite's steps, one "=== name" entry each.
//	# Review changes like code. Update: cleanroom run --update-snapshots (or CLEANROOM_UPDATE_SNAPSHOTS=1).
//	# Format: go doc github.com/cleanroomhq/cleanroom/snapshot
//
//	=== banner
//	| ready
//	\ no newline at end
//
//	=== empty
//
//	=== headers
//	"HTTP/1.1 200 OK\r"
//	"Server: demo \r"
//	"\r"
//
//	=== home page
//	| <h1>hello</h1>
//	|
//	| <p>ok</p>
//
// The lines mean:
//
//   - "=== name" starts the entry name. A name that is empty, has leading
//     or trailing spaces, starts with a double quote, or holds a character
//     that is not printable (a tab, a newline, invalid UTF-8…) is written as
//     a Go string literal instead: === "two\nlines".
//   - "| text" is one line of content, "|" alone an empty one.
//   - A line that starts with a double quote is one line of content written
//     as a Go string literal (strconv.Quote). Lines are written so when
//     they hold a carriage return or another character that is not
//     printable (other than a tab), invalid UTF-8, or end in a space or a
//     tab — everything a reviewer could not see or an editor might change.
//   - "\ no newline at end" after the last content line says that the
//     content does not end with a newline. Without it, every content line,
//     the last one included, ends with one. An entry with no content lines
//     is empty.
//   - Lines starting with "#" and blank lines are comments; they may only
//     appear before a header, not among content lines, so that a stray edit
//     is an error rather than a silent change. Comments are not kept when
//     the file is rewritten.
//
// So the written file never contains a carriage return, a control
// character other than the newline, invalid UTF-8 or trailing white space,
// and any content — lines that look like headers, CRLF line endings, no
// final newline, very long lines — reads back byte for byte. A "\r" at the
// end of a line is ignored when reading, so a file whose line endings a
// Windows checkout turned into CRLF still reads the same. A malformed file
// is a *FormatError naming the file and line.
//
// Files written by Match say "(go test)" in their first line, and Prune
// leaves them alone: no suite refers to them, yet they are not stale. Prune
// also leaves alone any .snap file that does not start with the cleanroom
// comment (Jest, for one, uses the same __snapshots__/*.snap names).
package snapshot
