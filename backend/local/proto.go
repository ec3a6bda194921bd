package local

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// The runner and a sandbox's init process talk over the container's control
// socket, one connection per request, in frames: a kind byte, a big-endian
// uint32 length, then that many bytes.
const (
	frameRequest = 'q' // runner → init: a request (JSON)
	frameKill    = 'k' // runner → init: kill the exec's process tree now
	frameStdout  = 'o' // init → runner: output of an exec
	frameStderr  = 'e'
	frameReply   = 'r' // init → runner: the last frame (JSON)
)

// maxFrame bounds a frame, so that a corrupt length cannot make either side
// allocate without limit. Files and stdin larger than this are refused.
const maxFrame = 256 << 20

// request asks the init process to do one thing in the container.
type request struct {
	Op string `json:"op"` // "exec", "write", "read"

	// exec
	Cmd     []string          `json:"cmd,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	WorkDir string            `json:"workdir,omitempty"`
	User    string            `json:"user,omitempty"`
	Stdin   []byte            `json:"stdin,omitempty"`
	// HasStdin gives the command a pipe holding Stdin (possibly empty)
	// instead of /dev/null.
	HasStdin bool `json:"has_stdin,omitempty"`

	// write, read
	Path    string `json:"path,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
	Content []byte `json:"content,omitempty"`
}

// reply is the last frame of every request.
type reply struct {
	ExitCode int    `json:"exit_code"`
	Killed   bool   `json:"killed,omitempty"` // the exec was killed on request
	Content  []byte `json:"content,omitempty"`
	Err      string `json:"err,omitempty"`
	// NotFound: the path of a read does not exist.
	NotFound bool `json:"not_found,omitempty"`
}

func writeFrame(w io.Writer, kind byte, data []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(data)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func writeJSONFrame(w io.Writer, kind byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return fmt.Errorf("message of %d bytes is larger than the limit of %d", len(b), maxFrame)
	}
	return writeFrame(w, kind, b)
}

func readFrame(r io.Reader) (kind byte, data []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes is larger than the limit of %d", n, maxFrame)
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, err
	}
	return hdr[0], data, nil
}
